from lego_prover.cli import main

main()
