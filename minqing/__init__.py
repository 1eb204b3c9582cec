"""minqing (民情直通车): the pure domain logic of the opinion-handling pipeline.

Everything in this package is plain functions over plain data. It imports neither prefect nor
sqlalchemy, so every decision (parsing, normalisation, dedup, classification, routing,
deadlines, scoring) is fast to test and reusable outside the runtime in flows/, tasks/ and db/.
"""
