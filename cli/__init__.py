"""The operator CLI (`minqing ...`)."""
