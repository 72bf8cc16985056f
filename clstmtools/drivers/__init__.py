"""The console programs clstmctc, clstmseq and clstmtext (thin: read settings, build, train, report)."""
