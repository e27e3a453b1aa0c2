"""Knowledge: knowledge bases, documents, chunks, embeddings and the vector store."""
