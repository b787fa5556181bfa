"""Continuous batching for in-process llama.cpp: several prompts decoded together in one context.

On a CPU, generating one token for one sequence leaves most of the matrix units idle (a 1.5B model makes
~11 tokens/s alone on 2 cores, but ~25 tokens/s in total over 4 sequences decoded together), so the LLM
teacher's calls run as parallel sequences of one llama.cpp context, the way ``llama-server --parallel N``
serves them (continuous batching: a finished sequence's slot takes the next waiting prompt at once).

- The KV cache is unified; a few sequences beside the slots hold **cached prompt prefixes**, evaluated once
  and shared with each slot by ``llama_memory_seq_cp`` without copying. A prompt's cacheable prefixes are its
  system message (instructions and entity types) and everything before its last user turn (the system
  message and the few-shot turns). A prefix is cached when the engine is idle, or on its second sight
  (grouped shots: the calls of one group share their shots, so the group's shots are evaluated once); a
  prompt shares the longest start it has in common with any cached prefix (its system message, when its shots
  are its own) and evaluates the rest in its slot. Least recently used prefixes make room for new ones.
- Each slot evaluates only its own suffix (shots and input text), and does so in the same ``llama_decode``
  batch as the other slots' next tokens (as ``llama-server`` does): the running slots do not stop for a new
  prompt, and one ``llama_decode`` call (one pass over the weights) serves both. Measured on the first 48
  CrossNER-AI dev sentences with 8 slots, back to back against each suffix evaluated on its own call:
  215 s vs 197 s, then 235 s vs 271 s, a difference inside this virtual machine's run-to-run spread (the
  host took 13-18% of the CPU during the second pair). Then the slot decodes one token per step in a batch
  with the other active slots.
- Decoding is greedy. With a JSON schema, a per-slot GBNF grammar sampler (``json_schema_to_gbnf``)
  constrains it; the argmax token is checked against the grammar first and the whole vocabulary is filtered
  only when it is rejected (as llama.cpp's own sampler does), which keeps constrained decoding nearly as fast
  as free decoding.
- Jump-forward decoding (:mod:`.jump_forward`): the characters the JSON schema forces (keys, quotes,
  separators, the rest of a type name once it is unambiguous) are tokenized and evaluated in the same
  forward pass as the slot's next token, instead of one decoding step each; a reply that is complete
  ends without asking the model for its end-of-text token.
- Repetition loops are cut: when a reply lists an array item (an entity) for the ``max_repeats + 1``-th time,
  the reply ends after it, closed as valid JSON (:meth:`.JumpForward.truncated`), instead of decoding the
  loop until the model leaves it or ``max_tokens`` runs out. The entities before the cut are kept.
- Flash attention is on: with several sequences in one cache, attention is a large share of the work.
- A prompt is admitted only when the KV cache has room for it and its ``max_tokens``; a prompt that cannot
  fit even alone gets an error reply.

Public entry: :meth:`BatchEngine.submit` (thread-safe; blocks until the reply is ready).
"""

from __future__ import annotations

import codecs
import ctypes
import json
import queue
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from smallext.teachers.backends import Reply
from smallext.teachers.backends.jump_forward import JumpForward, supports


@dataclass
class _Request:
    tokens: list[int]
    system_len: int
    grammar: str | None
    max_tokens: int
    json_schema: dict | None = None
    done: threading.Event = field(default_factory=threading.Event)
    reply: Reply | None = None
    t0: float = field(default_factory=time.perf_counter)
    cut: int = 0  # tokens before the last user turn (system message and shots): the longest cacheable prefix


@dataclass
class _Prefix:
    """A cached prompt prefix: its tokens, held in sequence ``seq``; ``used`` orders eviction."""

    seq: int
    tokens: list[int]
    used: int = 0


@dataclass
class _Slot:
    seq: int
    req: _Request
    n_past: int  # positions of the sequence already evaluated
    reserved: int
    sampler: object | None
    out: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)  # tokens not yet evaluated: prompt suffix, then ``out``'s tail
    jf: JumpForward | None = None
    utf8: codecs.IncrementalDecoder = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))

    def prompt_left(self) -> int:
        """Prompt tokens not evaluated yet (at the front of ``pending``)."""
        return max(0, len(self.req.tokens) - self.n_past)


class BatchEngine:
    """Decode prompts of one llama.cpp model in parallel sequences (see the module docstring).

    Args:
        llm: a loaded ``llama_cpp.Llama`` (its model, tokenizer and chat template are used; the engine makes
            its own context).
        parallel: sequences decoded at once (slots), 1 to 32.
        n_ctx: KV cache size in tokens, shared by the prefix and all slots.
        n_threads: CPU threads.
        n_batch: most tokens per ``llama_decode`` call (longer prompts are evaluated in pieces).
        max_prefixes: prompt prefixes cached at once (each in a sequence of its own).
        jump_forward: append the characters a JSON schema forces without decoding them one by one.
        max_repeats: end a JSON reply that lists an identical array item more than this many times (a
            repetition loop); ``None``: never. Needs a schema :func:`.jump_forward.supports`.

    Raises:
        ValueError: the model has no chat template in its GGUF metadata, or ``parallel`` or ``max_repeats`` is
            out of range.
        RuntimeError: llama.cpp could not make the context.
    """

    def __init__(self, llm, *, parallel: int = 4, n_ctx: int = 8192, n_threads: int = 2, n_batch: int = 512,
                 max_prefixes: int = 3, jump_forward: bool = True, max_repeats: int | None = 2) -> None:
        import llama_cpp as L
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        if not 1 <= parallel <= 32:
            raise ValueError(f"parallel must be between 1 and 32, not {parallel}")
        if max_repeats is not None and max_repeats < 1:
            raise ValueError(f"max_repeats must be at least 1 (or None), not {max_repeats}")
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ValueError("the GGUF has no chat template (tokenizer.chat_template); use parallel=1")
        self.L = L
        self.llm = llm
        model = llm._model.model
        self.vocab = L.llama_model_get_vocab(model)
        self.n_vocab = L.llama_vocab_n_tokens(self.vocab)
        eos, bos = L.llama_vocab_eos(self.vocab), L.llama_vocab_bos(self.vocab)
        self.formatter = Jinja2ChatFormatter(
            template=template, eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
            bos_token=llm._model.token_get_text(bos) if bos != -1 else "")
        cp = L.llama_context_default_params()
        cp.n_ctx, cp.n_batch, cp.n_ubatch = n_ctx, n_batch, n_batch
        cp.n_seq_max = parallel + max_prefixes
        cp.n_threads = cp.n_threads_batch = n_threads
        cp.kv_unified = True
        cp.flash_attn_type = 1  # on 2 CPU cores: prompt evaluation +40%, decoding +13% at 4 sequences
        self.ctx = L.llama_init_from_model(model, cp)
        if not self.ctx:
            raise RuntimeError("llama.cpp could not create a context for parallel decoding")
        self.mem = L.llama_get_memory(self.ctx)
        self.n_ctx = L.llama_n_ctx(self.ctx)
        self.n_batch = n_batch
        self.parallel = parallel
        self.jump_forward = jump_forward
        self.max_repeats = max_repeats
        self._forced_cache: dict[str, tuple[list[int], str]] = {}  # text -> (tokens, last token's text)
        self.batch = L.llama_batch_init(n_batch, 0, parallel + max_prefixes)
        # sequences 1..parallel are the slots; 0 and parallel+1.. hold cached prefixes
        self._prefix_seqs = [0, *range(parallel + 1, parallel + max_prefixes)]
        self.prefixes: list[_Prefix] = []
        self._seen: dict[tuple[int, ...], int] = {}  # cacheable prefixes of recent prompts -> times seen
        self._clock = 0
        cand = np.zeros(self.n_vocab, dtype=[("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])
        cand["id"] = np.arange(self.n_vocab, dtype=np.int32)
        self._cand = cand
        self._one = np.zeros(1, dtype=cand.dtype)
        self.stats = {"prefill_tokens": 0, "prefill_s": 0.0, "decode_steps": 0, "decode_tokens": 0, "decode_s": 0.0,
                      "sample_s": 0.0, "grammar_full": 0, "forced_tokens": 0, "repetition_stops": 0, "mixed_steps": 0,
                      "prefixes_cached": 0, "prefix_tokens_shared": 0}
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="llamacpp-batch", daemon=True)
        self._thread.start()

    # ----------------------------------------------------------------- public
    @property
    def prefix(self) -> list[int]:
        """The most recently used cached prefix (empty before the first)."""
        return max(self.prefixes, key=lambda p: p.used).tokens if self.prefixes else []

    def prompt_tokens(self, messages: list[dict]) -> tuple[list[int], int]:
        """Token ids of the chat prompt, and the length of its system-message prefix (shared between calls)."""
        full, system_len, _ = self._prompt(messages)
        return full, system_len

    def _prompt(self, messages: list[dict]) -> tuple[list[int], int, int]:
        """Token ids of the chat prompt, the length of its system message, and of all before its last user turn
        (each at most one less than the prompt: a slot evaluates at least one token of its own)."""
        full = self._tokenize(self.formatter(messages=messages))

        def common(upto: list[dict]) -> int:
            other = self._tokenize(self.formatter(messages=upto))
            n = 0
            while n < min(len(full), len(other)) and full[n] == other[n]:
                n += 1
            return min(n, len(full) - 1)

        if not (messages and messages[0].get("role") == "system" and len(messages) > 1):
            return full, 0, 0
        system_len = common(messages[:1])
        cut = common(messages[:-1]) if len(messages) > 2 else system_len
        return full, system_len, max(cut, system_len)

    def submit(self, messages: list[dict], json_schema: dict | None, max_tokens: int) -> Reply:
        """Decode one chat prompt (greedy; constrained to ``json_schema`` when given). Thread-safe, blocking.

        Returns:
            The :class:`Reply` (``finish_reason`` ``stop`` or ``length``; ``error`` set when it could not run).
        """
        tokens, system_len, cut = self._prompt(messages)
        grammar = None
        if json_schema is not None:
            from llama_cpp.llama_grammar import json_schema_to_gbnf

            grammar = json_schema_to_gbnf(json.dumps(json_schema))
        req = _Request(tokens, system_len, grammar, max_tokens, json_schema, cut=cut)
        self._queue.put(req)
        req.done.wait()
        assert req.reply is not None
        return req.reply

    def close(self) -> None:
        """Stop the decoding thread and free the context."""
        self._queue.put(None)
        self._thread.join(timeout=30)
        self.L.llama_batch_free(self.batch)
        self.L.llama_free(self.ctx)

    # ---------------------------------------------------------------- engine
    def _tokenize(self, formatted) -> list[int]:
        return self.llm.tokenize(formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True)

    def _decode(self, items: list[tuple[int, int, int, bool]], kind: str) -> int:
        """Run ``llama_decode`` on (token, position, sequence, wants logits) items (at most n_batch);
        its time goes to ``stats[kind + "_s"]`` (``prefill``: the shared prefix; ``decode``: a step, counted
        in ``decode_steps``). The callers count the tokens."""
        t0 = time.perf_counter()
        try:
            return self._decode_items(items)
        finally:
            self.stats[f"{kind}_s"] += time.perf_counter() - t0
            self.stats["decode_steps"] += kind == "decode"

    def _decode_items(self, items: list[tuple[int, int, int, bool]]) -> int:
        b = self.batch
        b.n_tokens = len(items)
        for i, (tok, pos, seq, logits) in enumerate(items):
            b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = tok, pos, 1, logits
            b.seq_id[i][0] = seq
        return self.L.llama_decode(self.ctx, b)

    def _prefill(self, seq: int, tokens: list[int], start: int) -> bool:
        """Evaluate ``tokens`` into sequence ``seq`` from position ``start``, in pieces of ``n_batch`` (no logits:
        nothing is sampled from a prefix; each slot's own tokens follow in :meth:`_step`)."""
        for i in range(0, len(tokens), self.n_batch):
            piece = tokens[i: i + self.n_batch]
            if self._decode([(t, start + i + j, seq, False) for j, t in enumerate(piece)], "prefill") != 0:
                return False
            self.stats["prefill_tokens"] += len(piece)
        return True

    def _used(self, slots: dict[int, _Slot]) -> int:
        return sum(len(p.tokens) for p in self.prefixes) + sum(s.reserved for s in slots.values())

    @staticmethod
    def _common(a: list[int], b: list[int]) -> int:
        n = 0
        for x, y in zip(a, b, strict=False):
            if x != y:
                break
            n += 1
        return n

    def _best_prefix(self, tokens: list[int], limit: int) -> tuple[_Prefix | None, int]:
        """The cached prefix sharing the longest start with ``tokens`` (at most ``limit`` tokens), and its length."""
        best, n = None, 0
        for p in self.prefixes:
            k = min(self._common(p.tokens, tokens), limit)
            if k > n:
                best, n = p, k
        return best, n

    def _cache_prefix(self, tokens: list[int]) -> _Prefix | None:
        """Cache ``tokens`` as a prefix: copy the longest cached start, evaluate the rest into a free prefix
        sequence (the least recently used one when none is free). None when llama.cpp could not."""
        L = self.L
        source, n = self._best_prefix(tokens, len(tokens))
        free = [q for q in self._prefix_seqs if q not in {p.seq for p in self.prefixes}]
        if free:
            seq = free[0]
        else:
            victim = min((p for p in self.prefixes if p is not source), key=lambda p: p.used, default=None)
            if victim is None:
                return None
            self.prefixes.remove(victim)
            L.llama_memory_seq_rm(self.mem, victim.seq, -1, -1)
            seq = victim.seq
        L.llama_memory_seq_rm(self.mem, seq, -1, -1)
        if source is not None and n:
            L.llama_memory_seq_cp(self.mem, source.seq, seq, 0, n)
        if not self._prefill(seq, tokens[n:], n):
            L.llama_memory_seq_rm(self.mem, seq, -1, -1)
            return None
        prefix = _Prefix(seq, list(tokens))
        self.prefixes.append(prefix)
        self.stats["prefixes_cached"] += 1
        return prefix

    def _share(self, req: _Request, slots: dict[int, _Slot]) -> tuple[_Prefix | None, int]:
        """The cached prefix ``req`` starts from and how many of its tokens it shares; caches the request's
        cacheable prefixes (longest first) when the engine is idle or has seen them before, and the cache has
        room for them beside the request (a full cache would fail every active slot)."""
        room = self._used(slots) + len(req.tokens) + req.max_tokens <= self.n_ctx
        for length in dict.fromkeys((req.cut, req.system_len)):
            if length <= 0:
                continue
            key = tuple(req.tokens[:length])
            cached = next((p for p in self.prefixes if tuple(p.tokens) == key), None)
            if cached is None and room and (not slots or self._seen.get(key, 0) > 0):
                cached = self._cache_prefix(req.tokens[:length])
            self._seen[key] = self._seen.get(key, 0) + 1
            if len(self._seen) > 4096:  # forget the oldest sightings
                self._seen.pop(next(iter(self._seen)))
            if cached is not None:
                return cached, length
        return self._best_prefix(req.tokens, len(req.tokens) - 1)

    def _sample(self, slot: _Slot, idx: int) -> int:
        t0 = time.perf_counter()
        try:
            return self._sample_token(slot, idx)
        finally:
            self.stats["sample_s"] += time.perf_counter() - t0

    def _sample_token(self, slot: _Slot, idx: int) -> int:
        L = self.L
        logits = np.ctypeslib.as_array(L.llama_get_logits_ith(self.ctx, idx), shape=(self.n_vocab,))
        tok = int(logits.argmax())
        if slot.sampler is None:
            return tok
        if self._allows(slot.sampler, tok):
            L.llama_sampler_accept(slot.sampler, tok)
            return tok
        self.stats["grammar_full"] += 1
        cand = self._cand
        cand["logit"] = logits
        cand["p"] = 0.0
        self._apply(slot.sampler, cand)
        tok = int(cand["id"][int(cand["logit"].argmax())])
        L.llama_sampler_accept(slot.sampler, tok)
        return tok

    def _allows(self, sampler, tok: int) -> bool:
        """Whether the grammar ``sampler`` accepts ``tok`` next (checked on that one token, not the vocabulary)."""
        one = self._one
        one["id"], one["logit"], one["p"] = tok, 0.0, 0.0
        return self._apply(sampler, one) and bool(np.isfinite(one["logit"][0]))

    def _apply(self, sampler, arr: np.ndarray) -> bool:
        L = self.L
        data = arr.ctypes.data_as(ctypes.POINTER(L.llama_token_data))
        tda = L.llama_token_data_array(data=data, size=len(arr), selected=-1, sorted=False)
        L.llama_sampler_apply(sampler, ctypes.byref(tda))
        return tda.size == len(arr)

    def _finish(self, slot: _Slot, reason: str | None, error: str | None = None, text: str | None = None) -> None:
        L = self.L
        L.llama_memory_seq_rm(self.mem, slot.seq, -1, -1)
        if slot.sampler is not None:
            L.llama_sampler_free(slot.sampler)
        req = slot.req
        out = [t for t in slot.out if not L.llama_vocab_is_eog(self.vocab, t)]
        if text is None:
            text = self.llm.detokenize(out).decode("utf-8", errors="replace")
        req.reply = Reply(text, len(req.tokens), len(slot.out), reason, time.perf_counter() - req.t0, error)
        req.done.set()

    def _fail(self, req: _Request, error: str) -> None:
        req.reply = Reply("", len(req.tokens), 0, None, time.perf_counter() - req.t0, error)
        req.done.set()

    def _admit(self, req: _Request, slots: dict[int, _Slot]) -> None:
        """Start ``req`` in a free slot: share the prefix; the rest of the prompt (and the reply's forced
        opening) becomes the slot's pending tokens, evaluated by the next steps."""
        L = self.L
        toks = req.tokens
        seq = next(s for s in range(1, self.parallel + 1) if s not in slots)
        prefix, start = self._share(req, slots)
        if prefix is not None and start:
            self._clock += 1
            prefix.used = self._clock
            L.llama_memory_seq_cp(self.mem, prefix.seq, seq, 0, start)
            self.stats["prefix_tokens_shared"] += start
        else:
            start = 0
        rest = toks[start:]
        sampler = None
        if req.grammar is not None:
            sampler = L.llama_sampler_init_grammar(self.vocab, req.grammar.encode("utf-8"), b"root")
            if not sampler:
                self._fail(req, "llama.cpp: could not compile the JSON-schema grammar")
                return
        slot = _Slot(seq, req, start, len(rest) + req.max_tokens, sampler)
        follow = self.jump_forward or self.max_repeats is not None
        if sampler is not None and follow and req.json_schema is not None and supports(req.json_schema):
            slot.jf = JumpForward(req.json_schema, self.max_repeats)
            if self.jump_forward:
                self._force(slot)  # the reply's opening, e.g. '{"entities": [', is evaluated with the prompt
        slot.pending = rest + slot.pending  # evaluated with the next decoding steps (see :meth:`_step`)
        slots[seq] = slot

    def _emit(self, slot: _Slot, tok: int) -> None:
        """Append a sampled token to the reply, then the tokens the JSON schema forces after it."""
        slot.out.append(tok)
        slot.pending = [tok]
        if slot.jf is not None and not self.L.llama_vocab_is_eog(self.vocab, tok):
            slot.jf.feed(slot.utf8.decode(self.llm.detokenize([tok])))
            if self.jump_forward and slot.jf.truncated() is None:
                self._force(slot)

    def _force(self, slot: _Slot) -> None:
        """Append the forced characters' tokens (each checked against the grammar, within ``max_tokens``)."""
        assert slot.jf is not None and slot.sampler is not None
        text = slot.jf.forced()
        if not text:
            return
        cached = self._forced_cache.get(text)
        if cached is None:
            toks = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
            if self.llm.detokenize(toks).decode("utf-8", errors="replace") != text:
                toks = []
            tail = self.llm.detokenize(toks[-1:]).decode("utf-8", errors="replace") if toks else ""
            cached = self._forced_cache[text] = (toks, tail)
        toks, tail = cached
        if not toks:
            slot.jf.off = True
            return
        if not slot.jf.done:
            # the last token is left to the model, which may merge its characters with the next ones
            if not text.endswith(tail):
                slot.jf.off = True
                return
            slot.jf.unread(tail)
            toks = toks[:-1]
            if not toks:
                return
        room = min(slot.req.max_tokens - len(slot.out), self.n_batch // self.parallel - len(slot.pending))
        if len(toks) > room:
            slot.jf.off = True  # the forced text could not be emitted whole: decode freely from here
            return
        for t in toks:
            if not self._allows(slot.sampler, t):
                slot.jf.off = True
                return
            self.L.llama_sampler_accept(slot.sampler, t)
            slot.out.append(t)
            slot.pending.append(t)
            self.stats["forced_tokens"] += 1

    def _fits(self, req: _Request, slots: dict[int, _Slot]) -> bool:
        _, start = self._best_prefix(req.tokens, len(req.tokens) - 1)
        return self._used(slots) + len(req.tokens) - start + req.max_tokens <= self.n_ctx

    def _loop(self) -> None:
        slots: dict[int, _Slot] = {}
        waiting: list[_Request] = []
        state = {"stop": False}
        while not state["stop"] or slots or waiting:
            try:
                self._step(slots, waiting, state)
            except Exception as e:  # never leave a caller waiting forever
                for s in list(slots.values()):
                    del slots[s.seq]
                    self._finish(s, None, f"llama.cpp batch engine: {e!r}")
                while waiting:
                    self._fail(waiting.pop(0), f"llama.cpp batch engine: {e!r}")

    def _step(self, slots: dict[int, _Slot], waiting: list[_Request], state: dict) -> None:
        """Take new prompts, admit what fits, decode one token for every active slot."""
        try:  # block only when there is nothing to decode
            item = self._queue.get(block=not slots and not waiting, timeout=None)
            while True:
                if item is None:
                    state["stop"] = True
                else:
                    waiting.append(item)
                item = self._queue.get_nowait()
        except queue.Empty:
            pass
        while waiting and len(slots) < self.parallel:
            req = waiting[0]
            if not slots and not self._fits(req, slots):  # idle: the cached prefixes make room
                for p in self.prefixes:
                    self.L.llama_memory_seq_rm(self.mem, p.seq, -1, -1)
                self.prefixes = []
                if not self._fits(req, slots):
                    waiting.pop(0)
                    self._fail(req, f"llama.cpp: prompt ({len(req.tokens)} tokens) plus max_tokens "
                                    f"({req.max_tokens}) exceed the context ({self.n_ctx} tokens)")
                    continue
            if not self._fits(req, slots):
                break
            waiting.pop(0)
            self._admit(req, slots)
        if not slots:
            return
        # one batch: every decoding slot's next token (and forced tokens), then as much of the new prompts as
        # fits in n_batch; a slot samples once all its pending tokens are evaluated
        active = sorted(slots.values(), key=lambda s: (s.prompt_left() > 0, s.seq))
        items: list[tuple[int, int, int, bool]] = []
        ready: list[tuple[_Slot, int]] = []
        taken: list[tuple[_Slot, int]] = []
        n_prompt = 0
        for s in active:
            take = min(len(s.pending), self.n_batch - len(items))
            if take <= 0:
                continue
            whole = take == len(s.pending)
            items += [(t, s.n_past + j, s.seq, whole and j == take - 1) for j, t in enumerate(s.pending[:take])]
            n_prompt += min(take, s.prompt_left())
            taken.append((s, take))
            if whole:
                ready.append((s, len(items) - 1))
        if self._decode(items, "decode") != 0:
            for s in active:
                del slots[s.seq]
                self._finish(s, None, "llama.cpp: decoding failed (context full)")
            return
        self.stats["prefill_tokens"] += n_prompt
        self.stats["decode_tokens"] += len(items) - n_prompt
        self.stats["mixed_steps"] += 0 < n_prompt < len(items)  # a new prompt evaluated with others' tokens
        for s, take in taken:
            s.n_past += take
            s.pending = s.pending[take:]
        for s, idx in ready:
            self._emit(s, self._sample(s, idx))
            self._maybe_finish(s, slots)

    def _maybe_finish(self, slot: _Slot, slots: dict[int, _Slot]) -> None:
        cut = slot.jf.truncated() if slot.jf is not None else None
        if cut is not None:
            del slots[slot.seq]
            self.stats["repetition_stops"] += 1
            self._finish(slot, "stop", text=cut)
        elif self.L.llama_vocab_is_eog(self.vocab, slot.out[-1]) or (slot.jf is not None and slot.jf.done):
            del slots[slot.seq]
            self._finish(slot, "stop")
        elif len(slot.out) >= slot.req.max_tokens:
            del slots[slot.seq]
            self._finish(slot, "length")
