"""The file types a knowledge base accepts (checked by the API before anything is stored)."""

SUPPORTED_EXTENSIONS: tuple[str, ...] = (
    ".md",
    ".markdown",
    ".txt",
    ".html",
    ".htm",
    ".pdf",
    ".docx",
    ".csv",
)
