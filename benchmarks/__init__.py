"""semplan benchmarks: `python -m benchmarks --help`. Results and the machine they ran on: RESULTS.md."""
