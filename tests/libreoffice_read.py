"""Run with Debian's /usr/bin/python3 (it has python3-uno): open an encrypted workbook in a
headless LibreOffice with a password and print what LibreOffice sees, as JSON.

    python3 tests/libreoffice_read.py FILE PASSWORD PORT
"""

import json
import os
import sys

import uno  # type: ignore[import-not-found]
from com.sun.star.beans import PropertyValue  # type: ignore[import-not-found]


def prop(name: str, value: object) -> PropertyValue:
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


def main(path: str, password: str, port: str) -> None:
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext(
        "com.sun.star.bridge.UnoUrlResolver", local)
    ctx = resolver.resolve(f"uno:socket,host=127.0.0.1,port={port};urp;StarOffice.ComponentContext")
    desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
    try:
        doc = desktop.loadComponentFromURL(uno.systemPathToFileUrl(path), "_blank", 0,
                                           (prop("Hidden", True), prop("Password", password)))
    except Exception as exc:  # LibreOffice refuses a wrong password with an exception
        print(json.dumps({"opened": False, "error": type(exc).__name__}))
        return
    if doc is None:
        print(json.dumps({"opened": False, "error": "no document"}))
        return
    sheet = doc.Sheets.getByName("Databook")
    cursor = sheet.createCursor()
    cursor.gotoEndOfUsedArea(False)
    rows = []
    for r in range(cursor.RangeAddress.EndRow + 1):
        rows.append([sheet.getCellByPosition(c, r).String for c in range(19)])
    formulas = sum(1 for r in range(cursor.RangeAddress.EndRow + 1) for c in range(19)
                   if sheet.getCellByPosition(c, r).Formula.startswith("=")
                   and sheet.getCellByPosition(c, r).Type.value == "FORMULA")
    print(json.dumps({"opened": True, "sheets": list(doc.Sheets.ElementNames), "rows": rows,
                      "formulas": formulas, "printing": printing(doc),
                      "properties": properties(doc)}))
    doc.close(True)


def printing(doc: object) -> dict[str, object]:
    """Each sheet's page style as LibreOffice read it: header, footer, pages wide."""
    styles = doc.StyleFamilies.getByName("PageStyles")  # type: ignore[attr-defined]
    out: dict[str, object] = {}
    for name in doc.Sheets.ElementNames:  # type: ignore[attr-defined]
        style = styles.getByName(doc.Sheets.getByName(name).PageStyle)  # type: ignore[attr-defined]
        header, footer = style.RightPageHeaderContent, style.RightPageFooterContent
        out[name] = {"header": header.CenterText.String, "footer": footer.LeftText.String,
                     "pages_wide": style.ScaleToPagesX}
    return out


def properties(doc: object) -> dict[str, object]:
    info = doc.DocumentProperties  # type: ignore[attr-defined]
    custom = info.UserDefinedProperties
    names = [p.Name for p in custom.PropertySetInfo.Properties]
    return {"keywords": list(info.Keywords), "description": info.Description,
            "custom": {n: custom.getPropertyValue(n) for n in names}}


if __name__ == "__main__":
    main(*sys.argv[1:4])
    # pyuno's bridge thread can still be running while the interpreter tears down, and then
    # Debian's python3 dies with SIGSEGV after the answer was printed (seen once in CI): the
    # answer is complete, so leave without the teardown.
    sys.stdout.flush()
    os._exit(0)
