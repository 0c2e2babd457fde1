"""The schema version this code writes and reads, in a module of its own: the plain ``history``
listing (core/store/quick.py) checks it without loading SQLAlchemy."""

# 2: generation_queue, web_import_state (issue 7); 3: images stored uncompressed; 4: prompt_folded (issue 4);
# 5: the Trash, generated_images.trashed_at and the gallery's partial indexes (issue 11)
# 6: ratings, tags, boards, notes, saved searches, the word-suffix index, NOTIFY triggers (issue 14);
# 7: indexes for the counts of words, models and aspect ratios (issue 14)
# 8: imagefx_user_directory, the view of who made an image (issue 15: team databases have their own)
SCHEMA_VERSION = 8
