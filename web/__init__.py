"""The web app: QR intake, the signed-link forms that close the loop, and the operator console."""
