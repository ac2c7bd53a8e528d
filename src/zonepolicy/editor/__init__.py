"""Editor support: syntax highlighting of .zp files (Pygments; the VS Code grammar lives in editors/vscode)."""
