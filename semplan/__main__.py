from semplan.cli import main

main()
