from chalicelib.local.stack import main

main()
