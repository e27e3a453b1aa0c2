"""kefu: the customer-service chatbot service."""

__version__ = "0.1.0"
