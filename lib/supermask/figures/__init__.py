"""The paper's figures: a figure's grid through the store, its tables, plots and claims, the
budget study, REPORT.md, and the tools that run and store the notebooks."""
