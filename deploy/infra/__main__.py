"""Pulumi's entry point: the program is ``program.py`` (docs/deploy.md, "Set-up as code")."""

import program

program.main()
