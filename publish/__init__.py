"""Write each school's databook: an Excel workbook, encrypted under the school's password,
into a run folder of the drop. Plain functions; the flow decides when they run."""
