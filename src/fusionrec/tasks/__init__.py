"""What a person does with a trained recommender: recommend, find similar items, start a new
user from a few liked items or a sentence, and see why an item was recommended."""
