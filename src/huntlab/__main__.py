from huntlab.cli import main

main()
