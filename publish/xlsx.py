"""A small, strict .xlsx (SpreadsheetML) writer: text, dates and blanks, a fixed set of
styles, column widths, a frozen header and a filter, and a protective marking (print header and
footer on every sheet, document properties). Nothing else, and never a formula.

Why not openpyxl: a school's workbook is ~85 rows, and openpyxl spends ~25 ms a workbook
making and styling a Python object per cell; writing the XML directly takes ~2 ms, and every
county renders ~600 workbooks a night. Every cell written here is either an inline string
(``t="inlineStr"``, so no text can ever become a formula), a date serial with a date format,
or absent. Files are read back by openpyxl, msoffcrypto and LibreOffice in the tests.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from xml.sax.saxutils import escape, quoteattr

from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.utils import get_column_letter

Value = str | date | None
FORMULA_PREFIXES = ("=", "+", "-", "@")
EXCEL_EPOCH = date(1899, 12, 30)
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
HEADER = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
CORE_PROPS = ("http://schemas.openxmlformats.org/package/2006/relationships/metadata/"
              "core-properties")
CUSTOM_PROPS = f"{REL}/custom-properties"
#: The custom document property that carries the marking (what labelling tools read).
MARKING_PROPERTY = "Classification"


@dataclass(frozen=True)
class Style:
    bold: bool = False
    fill: bool = False  # the header's pale blue
    wrap: bool = False  # wrapped, top-aligned


#: The header row of every sheet: bold, filled, wrapped.
HEADER_STYLE = Style(bold=True, fill=True, wrap=True)


PLAIN = Style()
_DATE_BIT, _QUOTE_BIT = 8, 16
_FORMULA_FIRST = frozenset(FORMULA_PREFIXES)
_COLUMNS = [get_column_letter(i) for i in range(1, 16385)]  # Excel's 16,384 columns


def _xf_index(style: Style, *, is_date: bool = False, quoted: bool = False) -> int:
    return (style.bold | style.fill << 1 | style.wrap << 2 | is_date << 3 | quoted << 4)


def clean_text(value: str) -> str:
    """Drop control characters that XML (and so Excel) cannot hold."""
    return ILLEGAL_CHARACTERS_RE.sub("", value)


def needs_quote_prefix(text: str) -> bool:
    """Text a spreadsheet would otherwise read as a formula or an error value when edited."""
    return text[:1] in _FORMULA_FIRST or (text[:1] == "#" and text in ERROR_CODES)


@dataclass
class Sheet:
    name: str
    widths: dict[int, float] = field(default_factory=dict)  # 1-based column: width
    freeze_header: bool = False
    filter_columns: int = 0  # a filter over the first N columns, header row included
    _rows: list[str] = field(default_factory=list)
    _max_col: int = 0

    def append(self, values: Sequence[Value], styles: Style | Sequence[Style] = PLAIN) -> None:
        """One row; ``None`` leaves a cell empty. A date gets the date format. (The hot loop
        of a nightly run: ~600 workbooks of ~85 rows, so it avoids work per cell.)"""
        r = len(self._rows) + 1
        cells = []
        base = _xf_index(styles) if isinstance(styles, Style) else 0
        for i, value in enumerate(values):
            if value is None:
                continue
            if not isinstance(styles, Style):
                base = _xf_index(styles[i])
            if isinstance(value, str):
                text = value if value.isprintable() else clean_text(value)
                xf = base | _QUOTE_BIT if needs_quote_prefix(text) else base
                space = (' xml:space="preserve"'
                         if text[:1].isspace() or text[-1:].isspace() else "")
                if "&" in text or "<" in text or ">" in text:
                    text = escape(text)
                cells.append(f'<c r="{_COLUMNS[i]}{r}" s="{xf}" t="inlineStr"><is><t{space}>'
                             f"{text}</t></is></c>")
            elif isinstance(value, date):
                cells.append(f'<c r="{_COLUMNS[i]}{r}" s="{base | _DATE_BIT}"><v>'
                             f"{(value - EXCEL_EPOCH).days}</v></c>")
            else:
                raise TypeError(f"a cell must be text, a date or empty, not {type(value).__name__}")
        self._max_col = max(self._max_col, len(values))
        self._rows.append(f'<row r="{r}">{"".join(cells)}</row>')

    def xml(self, selected: bool, marking: str | None = None) -> str:
        """The worksheet part; with a ``marking``, printed pages fit the paper's width and
        carry the marking centred in the header and on the left of the footer."""
        last = f"{_column(max(self._max_col, 1))}{max(len(self._rows), 1)}"
        view = '<sheetView workbookViewId="0"' + (' tabSelected="1"' if selected else "")
        if self.freeze_header:
            view += ('><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
                     'state="frozen"/><selection pane="bottomLeft" activeCell="A2" '
                     'sqref="A2"/></sheetView>')
        else:
            view += "/>"
        cols = "".join(f'<col min="{c}" max="{c}" width="{w}" customWidth="1"/>'
                       for c, w in sorted(self.widths.items()))
        auto = f'<autoFilter ref="{self.filter_ref}"/>' if self.filter_columns else ""
        fit = '<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>' if marking else ""
        return (f'{HEADER}<worksheet xmlns="{MAIN}" xmlns:r="{REL}">{fit}'
                f'<dimension ref="A1:{last}"/>'
                f'<sheetViews>{view}</sheetViews><sheetFormatPr defaultRowHeight="15"/>'
                f'{"<cols>" + cols + "</cols>" if cols else ""}<sheetData>'
                f'{"".join(self._rows)}</sheetData>{auto}'
                f'{_print_setup(marking) if marking else ""}</worksheet>')

    @property
    def filter_ref(self) -> str:
        return f"A1:{_column(self.filter_columns)}{max(len(self._rows), 1)}"


def _print_setup(marking: str) -> str:
    """Margins, a landscape page fitted to one page wide (as many tall as needed), and the
    marking in the header and footer. In header codes ``&`` starts a code, so a literal one
    is doubled before the XML escaping."""
    code = marking.replace("&", "&&")
    header = escape(f'&C&"-,Bold"{code}')
    footer = escape(f'&L&"-,Bold"{code}&RPage &P of &N')
    return ('<pageMargins left="0.5" right="0.5" top="0.75" bottom="0.75" header="0.3" '
            'footer="0.3"/><pageSetup paperSize="9" orientation="landscape" fitToWidth="1" '
            f'fitToHeight="0"/><headerFooter><oddHeader>{header}</oddHeader>'
            f"<oddFooter>{footer}</oddFooter></headerFooter>")


def _core_properties(title: str, marking: str) -> str:
    """Title, and the marking as category, keywords and description: what Office's file
    properties and a records system's indexer show. No dates, so equal content gives equal
    bytes."""
    text = escape(marking)
    return (f'{HEADER}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/'
            '2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/'
            f'XMLSchema-instance"><dc:title>{escape(title)}</dc:title>'
            f"<dc:description>Protective marking: {text}</dc:description>"
            f"<cp:keywords>{text}</cp:keywords><cp:category>{text}</cp:category>"
            f"<cp:contentStatus>{text}</cp:contentStatus></cp:coreProperties>")


def _custom_properties(marking: str) -> str:
    return (f'{HEADER}<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
            'custom-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/'
            'docPropsVTypes"><property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" '
            f"name={quoteattr(MARKING_PROPERTY)}><vt:lpwstr>{escape(marking)}</vt:lpwstr>"
            "</property></Properties>")


def _column(index: int) -> str:
    return _COLUMNS[index - 1]


def _styles(date_format: str) -> str:
    xfs = []
    for index in range(32):
        bold, fill, wrap = index & 1, index >> 1 & 1, index >> 2 & 1
        is_date, quoted = index & _DATE_BIT, index & _QUOTE_BIT
        attrs = (f'numFmtId="{164 if is_date else 0}" fontId="{bold}" '
                 f'fillId="{2 if fill else 0}" borderId="0" xfId="0"'
                 + (' applyNumberFormat="1"' if is_date else "")
                 + (' applyFont="1"' if bold else "") + (' applyFill="1"' if fill else "")
                 + (' quotePrefix="1"' if quoted else ""))
        xfs.append(f'<xf {attrs} applyAlignment="1"><alignment wrapText="1" vertical="top"/></xf>'
                   if wrap else f"<xf {attrs}/>")
    font = '<sz val="11"/><name val="Calibri"/><family val="2"/>'
    return (f'{HEADER}<styleSheet xmlns="{MAIN}"><numFmts count="1"><numFmt numFmtId="164" '
            f"formatCode={quoteattr(date_format)}/></numFmts>"
            f'<fonts count="2"><font>{font}</font><font><b/>{font}</font></fonts>'
            '<fills count="3"><fill><patternFill patternType="none"/></fill><fill>'
            '<patternFill patternType="gray125"/></fill><fill><patternFill patternType="solid">'
            '<fgColor rgb="FFDDEBF7"/><bgColor indexed="64"/></patternFill></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
            '</borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" '
            f'borderId="0"/></cellStyleXfs><cellXfs count="{len(xfs)}">{"".join(xfs)}'
            '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
            "</cellStyles></styleSheet>")


def package(sheets: Sequence[Sheet], date_format: str, *, marking: str | None = None,
            title: str = "") -> bytes:
    """The .xlsx bytes: the first sheet is the one that opens. A ``marking`` (for example
    OFFICIAL-SENSITIVE) goes in every sheet's print header and footer, in the core document
    properties and in a custom ``Classification`` property."""
    names = "".join(f'<sheet name={quoteattr(s.name)} sheetId="{i}" r:id="rId{i}"/>'
                    for i, s in enumerate(sheets, 1))
    filters = "".join(
        f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
        f"{escape(_quoted_sheet(s.name))}!{_absolute(s.filter_ref)}</definedName>"
        for i, s in enumerate(sheets) if s.filter_columns)
    workbook = (f'{HEADER}<workbook xmlns="{MAIN}" xmlns:r="{REL}"><bookViews><workbookView '
                f'activeTab="0"/></bookViews><sheets>{names}</sheets>'
                f'{"<definedNames>" + filters + "</definedNames>" if filters else ""}</workbook>')
    rels = "".join(f'<Relationship Id="rId{i}" Type="{REL}/worksheet" '
                   f'Target="worksheets/sheet{i}.xml"/>' for i in range(1, len(sheets) + 1))
    rels += (f'<Relationship Id="rId{len(sheets) + 1}" Type="{REL}/styles" '
             'Target="styles.xml"/>')
    sheet_types = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, len(sheets) + 1))
    props_types = props_rels = ""
    if marking:
        props_types = (
            '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-'
            'package.core-properties+xml"/><Override PartName="/docProps/custom.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.custom-properties+xml"/>')
        props_rels = (f'<Relationship Id="rId2" Type="{CORE_PROPS}" Target="docProps/core.xml"/>'
                      f'<Relationship Id="rId3" Type="{CUSTOM_PROPS}" '
                      'Target="docProps/custom.xml"/>')
    parts = {
        "[Content_Types].xml": (
            f'{HEADER}<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/vnd.'
            'openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
            '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override '
            'PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-'
            f'officedocument.spreadsheetml.styles+xml"/>{sheet_types}{props_types}</Types>'),
        "_rels/.rels": (f'{HEADER}<Relationships xmlns="{PKG_REL}"><Relationship Id="rId1" '
                        f'Type="{REL}/officeDocument" Target="xl/workbook.xml"/>{props_rels}'
                        "</Relationships>"),
        "xl/workbook.xml": workbook,
        "xl/_rels/workbook.xml.rels": f'{HEADER}<Relationships xmlns="{PKG_REL}">{rels}'
                                      "</Relationships>",
        "xl/styles.xml": _styles(date_format),
        **{f"xl/worksheets/sheet{i}.xml": s.xml(selected=i == 1, marking=marking)
           for i, s in enumerate(sheets, 1)},
    }
    if marking:
        parts["docProps/core.xml"] = _core_properties(title, marking)
        parts["docProps/custom.xml"] = _custom_properties(marking)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, text in parts.items():
            archive.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), text.encode("utf-8"),
                             compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _quoted_sheet(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def _absolute(ref: str) -> str:
    start, end = ref.split(":")
    return ":".join("$" + "".join(c for c in p if c.isalpha()) + "$"
                    + "".join(c for c in p if c.isdigit()) for p in (start, end))
