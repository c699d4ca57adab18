"""The local web page (``autalk app``): drop a face photo and a recording (or record one), set the AU
exaggeration, get back the talking photo and the predicted AU curves, as the field's tools offer.

Gradio serves it on 127.0.0.1 only; it is an optional extra (``pip install autalk[app]``) so the workflow does
not depend on a web stack. One ``PhotoAnimator`` is loaded at start and serves every request (the queue runs
them one at a time: a CPU has no room for two). A bad upload (no face, no speech, unreadable file) leaves the
outputs empty and puts our one-line message in the page's status line; the server keeps running.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (the backend first: the server has no display)
import pandas as pd  # noqa: E402

from autalk.errors import AutalkError, ConfigError  # noqa: E402
from autalk.generate.photo import MP4_PRESET, PhotoAnimator  # noqa: E402
from autalk.generate.video import write_mp4  # noqa: E402

log = logging.getLogger(__name__)
TITLE = "autalk: a talking face from one photo and a recording"
INTRO = ("Upload a photo of one face (frontal, well lit) and a speech recording, or record one. The face's lower "
         "half is animated from the speech through the predicted facial action units (AUs) and pasted back into "
         "the photo at its own resolution. The slider scales the AU drive: above 1 exaggerates articulation, "
         "below 1 damps it.")


def au_figure(aus: pd.DataFrame | None):
    """The predicted AU intensities over time (None when the generator uses no AUs)."""
    if aus is None:
        return None
    fig, ax = plt.subplots(figsize=(7, 2.6), layout="constrained")
    for column in aus.columns[2:]:
        ax.plot(aus["time_s"], aus[column], label=column.removesuffix("_r"))
    ax.set(xlabel="time (s)", ylabel="intensity (0-5)")
    ax.legend(ncol=len(aus.columns) - 2, fontsize="small", loc="upper right")
    return fig


def build_page(animator: PhotoAnimator, work_dir: Path):
    """The Gradio page around one loaded animator; videos are written under ``work_dir``."""
    import gradio as gr

    # Gradio injects progress tracking by inspecting this default, so it must stay a call in the signature
    def animate(image: str | None, audio: str | None, au_scale: float, side_by_side: bool,
                progress=gr.Progress()):  # noqa: B008
        """(video, AU plot, status line); a bad upload leaves the outputs empty and says why in the status."""
        if not image or not audio:
            return None, None, "**Error:** upload a face photo and a speech recording (or record one) first."
        progress(0.1, desc="finding the face, reading the speech, generating")
        out = Path(tempfile.mkdtemp(dir=work_dir)) / f"{Path(image).stem}__{Path(audio).stem}.mp4"
        try:
            result = animator.animate(image, audio, au_scale)
            progress(0.6, desc="pasting the face back and writing the video")
            frames = result.video_frames(side_by_side=side_by_side)
            write_mp4(frames, result.audio, result.sample_rate, result.fps, out, preset=MP4_PRESET)
        except AutalkError as err:
            log.error("%s", err)
            return None, None, f"**Error:** {err}"
        progress(1.0, desc="done")
        height, width = frames[0].shape[:2]
        return (str(out), au_figure(result.aus),
                f"Done: {len(frames)} frames ({len(frames) / result.fps:.1f} s) at {width}x{height}.")

    with gr.Blocks(title="autalk") as page:
        gr.Markdown(f"## {TITLE}\n{INTRO}")
        with gr.Row():
            with gr.Column():
                image = gr.Image(type="filepath", sources=["upload"], label="Face photo", elem_id="photo",
                                 height=320)
                audio = gr.Audio(type="filepath", sources=["upload", "microphone"], label="Speech",
                                 elem_id="speech")
                scale = gr.Slider(0.0, 3.0, value=1.0, step=0.1, label="AU exaggeration (--au-scale)",
                                  elem_id="au-scale")
                side = gr.Checkbox(False, label="Show the photo beside the result")
                button = gr.Button("Animate", variant="primary", elem_id="animate")
            with gr.Column():
                video = gr.Video(label="Talking photo", elem_id="result", format=None, autoplay=False, height=420)
                plot = gr.Plot(label="Predicted AU curves", elem_id="au-curves")
        status = gr.Markdown(elem_id="status")
        button.click(animate, [image, audio, scale, side], [video, plot, status], concurrency_limit=1)
    return page


def serve(checkpoint: str | Path, port: int = 7860, device: str = "cpu") -> None:
    """Load the checkpoint once and serve the page on 127.0.0.1:``port`` until interrupted."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")     # nothing leaves the machine
    try:
        import gradio as gr
    except ImportError:
        raise ConfigError("the web page needs the optional extra: pip install 'autalk[app]'") from None
    animator = PhotoAnimator(checkpoint, device)
    with tempfile.TemporaryDirectory(prefix="autalk-app.") as work_dir:
        page = build_page(animator, Path(work_dir))
        log.info("serving %s on http://127.0.0.1:%d", checkpoint, port)
        theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["monospace"])  # no web fonts
        page.queue().launch(server_name="127.0.0.1", server_port=port, share=False, inbrowser=False,
                            show_error=True, theme=theme, footer_links=[], allowed_paths=[work_dir])
