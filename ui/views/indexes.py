"""Indexes: what is built, build a new one (from uploads, an allowed server folder or the demo corpus)
as a background job, add and remove documents, and a search playground with every score."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui import common, job_panel
from workbench.errors import WorkbenchError
from workbench.jobs import start_job
from workbench.requests import IndexRequest

SOURCES = ("Upload files", "Server folder", "Demo corpus")
STORE_NAMES = {"faiss": "FAISS", "milvus": "Milvus"}  # index.store, as the caption names it


def overview(bench) -> list[str]:
    cfg = bench.config
    indexes = bench.list_indexes()
    if not indexes:
        st.info(f"No index yet under {cfg.index.root}: build one below.")
        return []
    st.dataframe([{"name": i["name"], "documents": i.get("documents"), "chunks": i.get("chunks"),
                   "embedder": i.get("embedder"), "type": i.get("type"), "size": common.human_size(i.get("size_bytes")),
                   "updated": i.get("updated_at"), "problem": i.get("error", "")} for i in indexes],
                 hide_index=True, use_container_width=True)
    return [i["name"] for i in indexes if "error" not in i]


def documents_from(source: str, cfg, key: str):
    """The chosen documents' paths (None for the demo corpus); raises with a message when refused."""
    if source == "Demo corpus":
        return None
    if source == "Upload files":
        files = st.file_uploader("Files", type=cfg.ui.upload_types, accept_multiple_files=True,
                                 max_upload_size=cfg.ui.max_upload_mb, key=f"{key}-upload")
        return files or []
    folder = st.text_input("Folder or file on the server", key=f"{key}-folder",
                           help="inside " + ", ".join(str(r) for r in common.data_roots(cfg)))
    return [common.allowed_path(folder, cfg)] if folder.strip() else []


def create(bench, existing: list[str]) -> None:
    cfg = bench.config
    st.subheader("Build an index")
    name = st.text_input("Name", placeholder="my-documents")
    source = st.radio("Documents", SOURCES, horizontal=True)
    left, middle, right, last = st.columns(4)
    bench = common.session()
    splitters, kinds = bench.setting_choices("chunking.splitter"), bench.setting_choices("index.type")
    splitter = left.selectbox("Splitter", splitters, index=splitters.index(cfg.chunking.splitter))
    size = middle.number_input("Chunk size", min_value=1, value=cfg.chunking.chunk_size)
    overlap = right.number_input("Overlap", min_value=0, value=cfg.chunking.chunk_overlap)
    kind = last.selectbox("Vector index", kinds, index=kinds.index(cfg.index.type))
    try:
        chosen = documents_from(source, cfg, "create")
        builder = bench.updated({"chunking.splitter": splitter, "chunking.chunk_size": int(size),
                                 "chunking.chunk_overlap": int(overlap), "index.type": kind})
    except Exception as exc:  # noqa: BLE001
        common.show_error(exc)
        return
    preview, build = st.columns([1, 5])
    if preview.button("Preview chunks", disabled=chosen == []):
        try:
            show_preview(builder, paths_for(chosen, cfg, name or "preview"))
        except Exception as exc:  # noqa: BLE001
            common.show_error(exc)
    if build.button("Build", type="primary", disabled=chosen == [] or not name):
        try:
            if name in existing:
                raise WorkbenchError(f"index '{name}' exists: building would replace its documents with these; "
                                     "add them to it below, or choose another name")
            paths = paths_for(chosen, cfg, common.check_name(name, "index"))
            request = IndexRequest(name=name, paths=paths or [], demo=paths is None)
            job_panel.select(start_job(builder.config, "build-index", request, title=f"index '{name}'"))
        except Exception as exc:  # noqa: BLE001
            common.show_error(exc)
            return
        st.rerun()  # the job's panel sits above the form


def paths_for(chosen, cfg, folder: str) -> list[Path] | None:
    """Uploaded files are saved under ui.uploads_root/<folder> first; server paths are already checked."""
    if chosen is None:
        return None
    if chosen and not isinstance(chosen[0], Path):
        return common.save_uploads(chosen, cfg, folder)
    return chosen


def show_preview(bench, paths: list[Path] | None, chunks_shown: int = 5) -> None:
    documents, chunks, skipped = bench.preview_chunks(paths)
    for skip in skipped:
        st.warning(common.as_markdown_text(f"skipped {skip.path}: {skip.reason}"))
    st.caption(f"The first {min(chunks_shown, len(chunks))} chunks of the first {len(documents)} document(s):")
    for chunk in chunks[:chunks_shown]:
        st.markdown(f"**{common.as_markdown_text(chunk.doc_id)}** · chars {chunk.start}-{chunk.end}")
        st.text(chunk.text)


def manage(bench, name: str) -> None:
    cfg = bench.config
    index = bench.open_index(name)
    info = index.info()
    settings = info["settings"]
    st.caption(f"{info['documents']} documents, {info['chunks']} chunks · embedder {info['embedder']} "
               f"({info['dimension']}-d) · {settings['splitter']} chunks of {settings['chunk_size']} "
               f"(overlap {settings['chunk_overlap']}) · {STORE_NAMES[info['store']['store']]} {info['store']['kind']} · "
               f"{common.human_size(info['size_bytes'])}")
    add, remove = st.columns(2)
    with add:
        files = st.file_uploader("Add documents", type=cfg.ui.upload_types, accept_multiple_files=True,
                                 max_upload_size=cfg.ui.max_upload_mb, key=f"add-{name}")
        if st.button("Add", disabled=not files):
            bar = st.progress(0.0, text="embedding...")
            try:
                paths = common.save_uploads(files, cfg, name)
                summary = bench.add_documents(name, paths, progress=lambda u: bar.progress(
                    u.fraction or 0.0, text=f"{u.stage}: {u.done}/{u.total}"))
                st.success(f"{summary.added} added, {summary.replaced} replaced, {summary.skipped} unchanged; "
                           f"{summary.chunks_embedded} chunks embedded")
                for warning in summary.warnings:
                    st.warning(common.as_markdown_text(warning))
            except Exception as exc:  # noqa: BLE001
                common.show_error(exc)
    with remove:
        doc_id = st.selectbox("Remove a document", index.document_ids(), index=None, key=f"remove-{name}")
        if st.button("Remove", disabled=doc_id is None):
            try:
                bench.remove_document(name, doc_id)
                st.rerun()
            except Exception as exc:  # noqa: BLE001
                common.show_error(exc)
    search(index, cfg)


def search(index, cfg) -> None:
    st.subheader("Search playground")
    query = st.text_input("Query", key=f"query-{index.name}")
    k = st.number_input("Results", min_value=1, value=cfg.retrieval.k, key=f"k-{index.name}")
    if not query.strip():
        return
    explained = index.explain(query, int(k))
    st.caption("Dense: cosine similarity of the embeddings · keyword: BM25 · fused: reciprocal-rank fusion "
               "of both rankings (what hybrid retrieval ranks by)")
    for rank, item in enumerate(explained, start=1):
        dense = "-" if item.dense_score is None else f"{item.dense_score:.3f} (#{item.dense_rank})"
        keyword = "-" if item.keyword_score is None else f"{item.keyword_score:.2f} (#{item.keyword_rank})"
        st.markdown(f"**{rank}. {common.as_markdown_text(item.hit.doc_id)}** · dense {dense} · keyword {keyword} · "
                    f"fused {item.fused_score:.4f}")
        st.text(item.hit.text)


bench = common.session()
st.title("Indexes")
names = overview(bench)
job = job_panel.selected()
if job is not None and job.kind == "build-index":
    job_panel.panel(job, chart=False)
create(bench, names)
if names:
    st.divider()
    chosen = st.selectbox("Index to manage", names)
    try:
        manage(bench, chosen)
    except Exception as exc:  # noqa: BLE001
        common.show_error(exc)
