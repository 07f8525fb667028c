"""Documents written from analyses and builds: comparison and sensitivity reports, the
consultation pack and the workbook."""
