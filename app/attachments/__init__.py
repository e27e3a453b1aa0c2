"""Customers' images: checked and re-encoded on the way in (``intake``), stored under the
data directory (``service``), read by a vision-language model (``vision``).

Below conversations and channels: it imports nothing of the project but ``app.core``,
``app.llm`` and the instruments.
"""
