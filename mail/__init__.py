"""E-mail: the one place that talks SMTP (mailer.py, through yagmail) and the local SMTP sink
used by the embedded default and the tests (sink.py)."""
