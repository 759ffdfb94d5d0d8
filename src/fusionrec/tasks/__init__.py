"""What a person does with what fusionrec learns: recommend, find similar items, start a new
user from a few liked items or a sentence, see why an item was recommended, search the
catalogue by a sentence, and read the sentiment of a review."""
