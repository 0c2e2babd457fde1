"""ORM models, column for column the tables of ``schema.sql``.

``schema.sql`` is the source of truth; tests/core/test_schema.py compares these models
with a database built from it (Alembic's ``compare_metadata``) so the two cannot drift.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NOW = text("CURRENT_TIMESTAMP")


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    image_url: Mapped[str | None] = mapped_column(Text)
    google_cookie: Mapped[str | None] = mapped_column(Text)  # Fernet ciphertext only
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), server_default=NOW)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), server_default=NOW)

    __table_args__ = (Index("idx_users_email", "email"),)


class SessionRow(Base):
    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    access_token: Mapped[str] = mapped_column(Text, nullable=False)  # sha256 hash, never the token
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), server_default=NOW)

    __table_args__ = (
        UniqueConstraint("user_id", "access_token", name="unique_active_session"),
        Index("idx_sessions_user_id", "user_id"),
        Index("idx_sessions_expires_at", "expires_at"),
    )


class Prompt(Base):
    __tablename__ = "prompts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    prompt_text: Mapped[str] = mapped_column(Text, nullable=False)
    seed: Mapped[int | None] = mapped_column(Integer, server_default=text("0"))
    number_of_images: Mapped[int | None] = mapped_column(Integer, server_default=text("1"))
    aspect_ratio: Mapped[str | None] = mapped_column(
        String(50), server_default=text("'IMAGE_ASPECT_RATIO_SQUARE'::character varying"))
    generation_model: Mapped[str | None] = mapped_column(
        String(50), server_default=text("'IMAGEN_3'::character varying"))
    workflow_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), server_default=NOW)
    search_vector: Mapped[str | None] = mapped_column(
        TSVECTOR, Computed("to_tsvector('simple'::regconfig, COALESCE(prompt_text, ''::text))",
                           persisted=True))
    prompt_folded: Mapped[str | None] = mapped_column(Text, Computed("lower(prompt_text)", persisted=True))

    __table_args__ = (
        Index("idx_prompts_user_id", "user_id"),
        Index("idx_prompts_created_at", "created_at"),
        Index("idx_prompts_search_vector", "search_vector", postgresql_using="gin"),
        Index("idx_prompts_user_created", "user_id", text("created_at DESC")),
        Index("idx_prompts_word_suffixes", text("imagefx_word_suffixes(prompt_text)"), postgresql_using="gin"),
    )


class GeneratedImage(Base):
    __tablename__ = "generated_images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    prompt_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("prompts.id", ondelete="SET NULL"))
    media_generation_id: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    encoded_image: Mapped[str] = mapped_column(Text, nullable=False, deferred=True)
    seed: Mapped[int | None] = mapped_column(Integer)
    model_name_type: Mapped[str | None] = mapped_column(String(50))
    aspect_ratio: Mapped[str | None] = mapped_column(String(50))
    fingerprint_log_record_id: Mapped[str | None] = mapped_column(String(255))
    workflow_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), server_default=NOW)
    # --- additions ---
    returned_prompt: Mapped[str | None] = mapped_column(Text)
    mime_type: Mapped[str | None] = mapped_column(String(50))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    byte_size: Mapped[int | None] = mapped_column(Integer)
    is_favorite: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    source: Mapped[str] = mapped_column(String(20), nullable=False,
                                        server_default=text("'generate'::character varying"))
    trashed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # in the Trash since

    __table_args__ = (
        Index("idx_generated_images_user_id", "user_id"),
        Index("idx_generated_images_prompt_id", "prompt_id"),
        Index("idx_generated_images_media_generation_id", "media_generation_id"),
        Index("idx_generated_images_live_created_id", text("created_at DESC"), text("id DESC"),
              postgresql_where=text("trashed_at IS NULL")),
        Index("idx_generated_images_live_user_created_id", "user_id", text("created_at DESC"), text("id DESC"),
              postgresql_where=text("trashed_at IS NULL")),
        Index("idx_generated_images_live_favorite_created_id", text("created_at DESC"), text("id DESC"),
              postgresql_where=text("is_favorite AND trashed_at IS NULL")),
        Index("idx_generated_images_live_user_id", "user_id", postgresql_where=text("trashed_at IS NULL")),
        Index("idx_generated_images_trashed", "trashed_at", "id", postgresql_where=text("trashed_at IS NOT NULL")),
        Index("idx_generated_images_live_prompt_id", "prompt_id", postgresql_where=text("trashed_at IS NULL")),
        Index("idx_generated_images_live_model", "model_name_type", postgresql_where=text("trashed_at IS NULL")),
        Index("idx_generated_images_live_aspect", "aspect_ratio", postgresql_where=text("trashed_at IS NULL")),
    )


class ImageThumbnail(Base):
    __tablename__ = "image_thumbnails"

    image_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("generated_images.id", ondelete="CASCADE"), primary_key=True)
    thumbnail: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    mime_type: Mapped[str] = mapped_column(String(50), nullable=False,
                                           server_default=text("'image/jpeg'::character varying"))
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), server_default=NOW)


class ImageCaption(Base):
    __tablename__ = "image_captions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    image_path: Mapped[str] = mapped_column(Text, nullable=False)
    image_type: Mapped[str] = mapped_column(String(20), nullable=False)
    caption_text: Mapped[str] = mapped_column(Text, nullable=False)
    media_generation_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), server_default=NOW)

    __table_args__ = (
        Index("idx_image_captions_user_id", "user_id"),
        Index("idx_image_captions_created_at", text("created_at DESC")),
    )


class GeneratedImageArchive(Base):
    __tablename__ = "generated_images_archive"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(Integer, nullable=False)
    prompt_id: Mapped[int | None] = mapped_column(Integer)
    media_generation_id: Mapped[str] = mapped_column(String(255), nullable=False)
    encoded_image: Mapped[str] = mapped_column(Text, nullable=False, deferred=True)
    seed: Mapped[int | None] = mapped_column(Integer)
    model_name_type: Mapped[str | None] = mapped_column(String(50))
    aspect_ratio: Mapped[str | None] = mapped_column(String(50))
    fingerprint_log_record_id: Mapped[str | None] = mapped_column(String(255))
    workflow_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    returned_prompt: Mapped[str | None] = mapped_column(Text)
    mime_type: Mapped[str | None] = mapped_column(String(50))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    byte_size: Mapped[int | None] = mapped_column(Integer)
    is_favorite: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    source: Mapped[str] = mapped_column(String(20), nullable=False,
                                        server_default=text("'generate'::character varying"))
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), server_default=NOW)

    __table_args__ = (
        Index("idx_generated_images_archive_media_generation_id", "media_generation_id"),
    )


class SchemaVersion(Base):
    __tablename__ = "imagefx_schema_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), server_default=NOW)

    __table_args__ = (CheckConstraint("id = 1"),)


class QueueItemRow(Base):
    """One prompt waiting in (or done by) the queue; see schema.sql for the state rules."""

    __tablename__ = "generation_queue"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_email: Mapped[str | None] = mapped_column(String(255))
    position: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    prompt_text: Mapped[str] = mapped_column(Text, nullable=False)
    number_of_images: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("4"))
    generation_model: Mapped[str] = mapped_column(String(50), nullable=False,
                                                  server_default=text("'IMAGEN_3_5'::character varying"))
    aspect_ratio: Mapped[str] = mapped_column(
        String(50), nullable=False, server_default=text("'IMAGE_ASPECT_RATIO_LANDSCAPE'::character varying"))
    seed: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), nullable=False,
                                       server_default=text("'pending'::character varying"))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    prompt_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("prompts.id", ondelete="SET NULL"))
    image_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    source: Mapped[str | None] = mapped_column(String(255))
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), server_default=NOW)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("state IN ('pending', 'running', 'done', 'failed', 'cancelled')",
                        name="generation_queue_state_check"),
        CheckConstraint("number_of_images BETWEEN 1 AND 8", name="generation_queue_count_check"),
        Index("idx_generation_queue_state_position", "state", "position", "id"),
        Index("idx_generation_queue_prompt_id", "prompt_id"),
    )


class WebImportState(Base):
    """Where the last import of an account's ImageFX web library stopped."""

    __tablename__ = "web_import_state"

    user_email: Mapped[str] = mapped_column(String(255), primary_key=True)
    next_cursor: Mapped[str | None] = mapped_column(Text)
    pages_done: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    images_seen: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    images_imported: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), server_default=NOW)


# --- the library (issue 14): tags, boards, notes, saved searches -----------------------------

def _owner_name_index(table: str) -> Index:
    return Index(f"idx_{table}_owner_name", text("COALESCE(user_id, 0)"), "name_folded", unique=True)


class ImageRating(Base):
    """1-5 stars; no row = none (schema.sql says why this is not a column of generated_images)."""

    __tablename__ = "image_ratings"

    image_id: Mapped[int] = mapped_column(Integer, ForeignKey("generated_images.id", ondelete="CASCADE"),
                                          primary_key=True, autoincrement=False)
    rating: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    image_created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    user_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    rated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), server_default=NOW)

    __table_args__ = (
        CheckConstraint("rating >= 1 AND rating <= 5", name="image_ratings_rating_check"),
        Index("idx_image_ratings_rating_created_id", text("rating DESC"), text("image_created_at DESC"),
              text("image_id DESC")),
    )


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    name_folded: Mapped[str | None] = mapped_column(String(100), Computed("lower((name)::text)", persisted=True))
    image_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), server_default=NOW)

    __table_args__ = (
        CheckConstraint("name <> '' AND name = btrim(name)", name="tags_name_check"),
        _owner_name_index("tags"),
        Index("idx_tags_name_prefix", "name_folded", postgresql_ops={"name_folded": "text_pattern_ops"}),
    )


class ImageTag(Base):
    __tablename__ = "image_tags"

    tag_id: Mapped[int] = mapped_column(Integer, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    image_id: Mapped[int] = mapped_column(Integer, ForeignKey("generated_images.id", ondelete="CASCADE"),
                                          primary_key=True)
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), server_default=NOW)

    __table_args__ = (Index("idx_image_tags_image_id", "image_id"),)


class Board(Base):
    __tablename__ = "boards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    name_folded: Mapped[str | None] = mapped_column(String(200), Computed("lower((name)::text)", persisted=True))
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), server_default=NOW)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), server_default=NOW)

    __table_args__ = (
        CheckConstraint("name <> '' AND name = btrim(name)", name="boards_name_check"),
        _owner_name_index("boards"),
    )


class BoardImage(Base):
    __tablename__ = "board_images"

    board_id: Mapped[int] = mapped_column(Integer, ForeignKey("boards.id", ondelete="CASCADE"), primary_key=True)
    image_id: Mapped[int] = mapped_column(Integer, ForeignKey("generated_images.id", ondelete="CASCADE"),
                                          primary_key=True)
    added_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), server_default=NOW)

    __table_args__ = (Index("idx_board_images_image_id", "image_id"),)


class ImageNote(Base):
    __tablename__ = "image_notes"

    image_id: Mapped[int] = mapped_column(Integer, ForeignKey("generated_images.id", ondelete="CASCADE"),
                                          primary_key=True, autoincrement=False)
    user_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(Text, nullable=False)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), server_default=NOW)


class SavedSearch(Base):
    __tablename__ = "saved_searches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    name_folded: Mapped[str | None] = mapped_column(String(200), Computed("lower((name)::text)", persisted=True))
    filter_text: Mapped[str] = mapped_column(Text, nullable=False)
    sort: Mapped[str] = mapped_column(String(20), nullable=False, server_default=text("'newest'::character varying"))
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), server_default=NOW)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), server_default=NOW)

    __table_args__ = (
        CheckConstraint("name <> '' AND name = btrim(name)", name="saved_searches_name_check"),
        CheckConstraint("sort IN ('newest', 'oldest', 'rating')", name="saved_searches_sort_check"),
        _owner_name_index("saved_searches"),
    )


# Views of schema.sql, in a MetaData of their own (no table to create, nothing for the schema check).
VIEWS = MetaData()
# Who made an image: every account on a single-user database, the team's members in a team database
# (core/store/team.sql), where a member cannot read other members' users rows.
UserDirectory = Table(
    "imagefx_user_directory", VIEWS,
    Column("id", Integer, primary_key=True),
    Column("email", String(255)),
    Column("name", String(255)),
    Column("image_url", Text),
)
