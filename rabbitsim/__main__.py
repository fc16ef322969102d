from rabbitsim.cli import main

raise SystemExit(main())
