"""The static HTML report over a run folder (`make report`): `python -m report --run RUN` reads
RUN/tag, RUN/mix and RUN/train (whichever are there) and writes RUN/report/index.html with its PNG
plots in img/. Reading the run: load; plots: plots; the page: html; putting them together: build."""
