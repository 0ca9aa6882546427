from sae.frontier.report import main

main()
