"""PyInstaller entry point: the ``legal-edge`` command."""

from legal_edge.cli import main

if __name__ == "__main__":
    main()
