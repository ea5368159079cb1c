"""Finding the knowledge sections that answer a question: search terms, embeddings, the index."""
