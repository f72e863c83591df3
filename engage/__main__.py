from engage.cli.main import main

main()
