from finhouse.cli import main

main()
