from mrl_eval.cli import main

main()
