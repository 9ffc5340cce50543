from deepnet.cli import main

raise SystemExit(main())
