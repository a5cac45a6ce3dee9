"""The report builder: results directories + history -> one static HTML page with plots."""
