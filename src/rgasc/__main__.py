from rgasc.cli import main

main()
