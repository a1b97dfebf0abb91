/* The metric functions of LongBench's metrics.py (F1, classification, retrieval, count, the
 * Chinese variants, code_sim) and eval.py's per-record rule, over lib/text's building blocks. */
#include <stdlib.h>
#include <string.h>

#include "longbench/metrics.h"
#include "text/unitab.h"

/* ---- QA F1 ---------------------------------------------------------------------------------- */
int kvb_qa_f1_score(kvb_sv pred, kvb_sv gt, double *score)
{
    kvb_strbuf np, ng;
    kvb_strbuf_init(&np);
    kvb_strbuf_init(&ng);
    kvb_sv *tp = NULL, *tg = NULL;
    size_t ntp = 0, ntg = 0;
    int rc = KVB_ENOMEM;
    if (kvb_normalize_answer(pred, &np) || kvb_normalize_answer(gt, &ng))
        goto done;
    kvb_sv sp = { np.buf ? np.buf : "", np.len }, sg = { ng.buf ? ng.buf : "", ng.len };
    if (kvb_split_ws(sp, &tp, &ntp) || kvb_split_ws(sg, &tg, &ntg))
        goto done;
    *score = kvb_f1_tokens(tp, ntp, tg, ntg);
    rc = 0;
done:
    free(tp);
    free(tg);
    kvb_strbuf_release(&np);
    kvb_strbuf_release(&ng);
    return rc;
}

/* jieba tokens of s, each normalize_zh_answer'ed, empty ones dropped. */
static int zh_tokens(const kvb_segmenter *seg, kvb_sv s, kvb_toklist *out, kvb_error *e)
{
    kvb_toklist raw;
    kvb_toklist_init(&raw);
    kvb_strbuf nb;
    kvb_strbuf_init(&nb);
    int rc = kvb_segment(seg, s, &raw, e);
    for (size_t i = 0; rc == 0 && i < raw.n; i++) {
        nb.len = 0;
        if (kvb_normalize_zh_answer(kvb_toklist_get(&raw, i), &nb) ||
            (nb.len && kvb_toklist_add(out, nb.buf, nb.len)))
            rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
    }
    kvb_strbuf_release(&nb);
    kvb_toklist_release(&raw);
    return rc;
}

int kvb_qa_f1_zh_score(const kvb_segmenter *seg, kvb_sv pred, kvb_sv gt, double *score,
                       kvb_error *e)
{
    kvb_toklist a, b;
    kvb_toklist_init(&a);
    kvb_toklist_init(&b);
    kvb_sv *va = NULL, *vb = NULL;
    int rc = zh_tokens(seg, pred, &a, e);
    if (rc == 0)
        rc = zh_tokens(seg, gt, &b, e);
    if (rc == 0) {
        va = kvb_calloc(a.n + 1, sizeof(*va));
        vb = kvb_calloc(b.n + 1, sizeof(*vb));
        if (!va || !vb)
            rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        for (size_t i = 0; i < a.n; i++)
            va[i] = kvb_toklist_get(&a, i);
        for (size_t i = 0; i < b.n; i++)
            vb[i] = kvb_toklist_get(&b, i);
        *score = kvb_f1_tokens(va, a.n, vb, b.n);
    }
    free(va);
    free(vb);
    kvb_toklist_release(&a);
    kvb_toklist_release(&b);
    return rc;
}

/* " ".join(jieba.cut(s)) */
static int zh_join(const kvb_segmenter *seg, kvb_sv s, kvb_strbuf *out, kvb_error *e)
{
    kvb_toklist t;
    kvb_toklist_init(&t);
    int rc = kvb_segment(seg, s, &t, e);
    for (size_t i = 0; rc == 0 && i < t.n; i++) {
        kvb_sv w = kvb_toklist_get(&t, i);
        if ((i && kvb_strbuf_add(out, " ", 1)) || kvb_strbuf_add(out, w.p, w.n))
            rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
    }
    if (rc == 0 && kvb_strbuf_add(out, "", 0))
        rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
    kvb_toklist_release(&t);
    return rc;
}

int kvb_rouge_zh_score(const kvb_segmenter *seg, kvb_sv pred, kvb_sv gt, double *score,
                       kvb_error *e)
{
    kvb_strbuf jp, jg;
    kvb_strbuf_init(&jp);
    kvb_strbuf_init(&jg);
    int rc = zh_join(seg, pred, &jp, e);
    if (rc == 0)
        rc = zh_join(seg, gt, &jg, e);
    if (rc == 0) {
        kvb_sv sp = { jp.buf ? jp.buf : "", jp.len }, sg = { jg.buf ? jg.buf : "", jg.len };
        if (kvb_rouge_score(sp, sg, KVB_ROUGE_ZH_RECON_FRAMES, score))
            rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
    }
    kvb_strbuf_release(&jp);
    kvb_strbuf_release(&jg);
    return rc;
}

/* ---- classification ------------------------------------------------------------------------- */
static int sv_contains(kvb_sv hay, kvb_sv needle)
{
    if (needle.n == 0)
        return 1;
    return needle.n <= hay.n && memmem(hay.p, hay.n, needle.p, needle.n) != NULL;
}

static int sv_eq(kvb_sv a, kvb_sv b) { return a.n == b.n && (a.n == 0 || !memcmp(a.p, b.p, a.n)); }

int kvb_classification_score(kvb_sv pred, kvb_sv gt, const kvb_sv *classes, size_t nclasses,
                             double *score)
{
    kvb_sv *em = kvb_calloc(nclasses + 1, sizeof(*em));
    if (!em)
        return KVB_ENOMEM;
    size_t n = 0;
    for (size_t c = 0; c < nclasses; c++)
        if (sv_contains(pred, classes[c]))
            em[n++] = classes[c];
    /* `for t in em: if t in gt and t != gt: em.remove(t)`: the list iterator walks an index
     * while remove() deletes the first equal element, so the element after a removed one is
     * skipped. */
    for (size_t it = 0; it < n;) {
        kvb_sv t = em[it++];
        if (sv_contains(gt, t) && !sv_eq(t, gt)) {
            size_t k = 0;
            while (!sv_eq(em[k], t))
                k++;
            memmove(em + k, em + k + 1, (n - k - 1) * sizeof(*em));
            n--;
        }
    }
    /* `if em_match_list != 0` is always true: the difflib fallback never runs */
    int hit = 0;
    for (size_t k = 0; k < n; k++)
        hit |= sv_eq(em[k], gt);
    *score = hit ? 1.0 / (double)n : 0.0;
    free(em);
    return 0;
}

/* ---- numbers: re.findall(r"\d+") ------------------------------------------------------------ */
typedef struct num_iter {
    kvb_sv s;
    size_t i;
} num_iter;

/* Next maximal run of Unicode decimal digits; 0 at the end. */
static int next_number(num_iter *it, kvb_sv *num)
{
    while (it->i < it->s.n) {
        size_t start = it->i;
        uint32_t c = kvb_utf8_next(it->s.p, it->s.n, &it->i);
        if (!kvb_uni_is_decimal(c))
            continue;
        size_t end = it->i;
        while (it->i < it->s.n) {
            size_t at = it->i;
            c = kvb_utf8_next(it->s.p, it->s.n, &it->i);
            if (!kvb_uni_is_decimal(c)) {
                it->i = at;
                break;
            }
            end = it->i;
        }
        num->p = it->s.p + start;
        num->n = end - start;
        return 1;
    }
    return 0;
}

/* right / len(numbers), 0.0 without numbers */
static double number_share(kvb_sv pred, kvb_sv want)
{
    num_iter it = { pred, 0 };
    kvb_sv num;
    size_t total = 0, right = 0;
    while (next_number(&it, &num)) {
        total++;
        right += sv_eq(num, want);
    }
    return total ? (double)right / (double)total : 0.0;
}

int kvb_count_score(kvb_sv pred, kvb_sv gt, double *score)
{
    *score = number_share(pred, gt);
    return 0;
}

int kvb_retrieval_score(kvb_sv pred, kvb_sv gt, int zh, double *score, kvb_error *e)
{
    /* re.findall(r'Paragraph (\d+)' or r'段落(\d+)', gt)[0] */
    const char *lit = zh ? "\xe6\xae\xb5\xe8\x90\xbd" : "Paragraph ";
    size_t ll = strlen(lit);
    for (size_t i = 0; i + ll <= gt.n; i++) {
        if (memcmp(gt.p + i, lit, ll))
            continue;
        num_iter it = { { gt.p + i + ll, gt.n - i - ll }, 0 };
        kvb_sv id;
        size_t save = 0;
        uint32_t c = it.s.n ? kvb_utf8_next(it.s.p, it.s.n, &save) : 0;
        if (it.s.n && kvb_uni_is_decimal(c) && next_number(&it, &id)) {
            *score = number_share(pred, id);
            return 0;
        }
    }
    return kvb_errorf(e, KVB_EINVAL, "answer '%.*s' has no '%s<number>' (metrics.py raises IndexError)",
                      (int)KVB_MIN(gt.n, 80), gt.p, zh ? "段落" : "Paragraph ");
}

/* ---- dispatch ------------------------------------------------------------------------------- */
int kvb_metric_score(enum kvb_metric m, const kvb_segmenter *seg, kvb_sv pred, kvb_sv gt,
                     const kvb_sv *classes, size_t nclasses, double *score, kvb_error *e)
{
    int rc = 0;
    *score = 0.0;
    switch (m) {
    case KVB_METRIC_QA_F1: rc = kvb_qa_f1_score(pred, gt, score); break;
    case KVB_METRIC_ROUGE: rc = kvb_rouge_score(pred, gt, KVB_ROUGE_RECON_FRAMES, score); break;
    case KVB_METRIC_COUNT: rc = kvb_count_score(pred, gt, score); break;
    case KVB_METRIC_CODE_SIM: rc = kvb_code_sim_score(pred, gt, score); break;
    case KVB_METRIC_RETRIEVAL: return kvb_retrieval_score(pred, gt, 0, score, e);
    case KVB_METRIC_RETRIEVAL_ZH: return kvb_retrieval_score(pred, gt, 1, score, e);
    case KVB_METRIC_CLASSIFICATION:
        if (!classes)
            return kvb_errorf(e, KVB_EINVAL, "classification needs all_classes (it is null)");
        rc = kvb_classification_score(pred, gt, classes, nclasses, score);
        break;
    case KVB_METRIC_QA_F1_ZH: return kvb_qa_f1_zh_score(seg, pred, gt, score, e);
    case KVB_METRIC_ROUGE_ZH: return kvb_rouge_zh_score(seg, pred, gt, score, e);
    default: return kvb_errorf(e, KVB_EINVAL, "unknown metric %d", (int)m);
    }
    if (rc)
        return kvb_errorf(e, rc, "out of memory");
    return 0;
}

int kvb_metric_record(const kvb_task *t, const kvb_segmenter *seg, kvb_sv pred,
                      const kvb_sv *answers, size_t nanswers, const kvb_sv *classes,
                      size_t nclasses, double *score, kvb_error *e)
{
    /* lsht (classification) and passage_retrieval_zh need no segmentation */
    if ((t->metric == KVB_METRIC_QA_F1_ZH || t->metric == KVB_METRIC_ROUGE_ZH) && !seg)
        return kvb_errorf(e, KVB_EUNSUP, "zh tasks need the jieba segmenter (task %s)", t->key);
    if (t->first_line) { /* prediction.lstrip('\n').split('\n')[0] */
        while (pred.n && pred.p[0] == '\n') {
            pred.p++;
            pred.n--;
        }
        const char *nl = memchr(pred.p, '\n', pred.n);
        if (nl)
            pred.n = (size_t)(nl - pred.p);
    }
    double best = 0.0;
    for (size_t k = 0; k < nanswers; k++) {
        double s;
        int rc = kvb_metric_score(t->metric, seg, pred, answers[k], classes, nclasses, &s, e);
        if (rc)
            return rc;
        if (s > best) /* max(score, s) keeps the first of equals */
            best = s;
    }
    *score = best;
    return 0;
}

/* ---- code_sim_score: the first code line, then fuzz.ratio (lib/text/difflib.c) --------- */
int kvb_code_sim_score(kvb_sv pred, kvb_sv gt, double *score)
{
    /* prediction.lstrip('\n').split('\n'); the first line without '`', '#' or '//' */
    size_t i = 0;
    while (i < pred.n && pred.p[i] == '\n')
        i++;
    kvb_sv line = { "", 0 };
    while (i <= pred.n) {
        const char *nl = memchr(pred.p + i, '\n', pred.n - i);
        size_t end = nl ? (size_t)(nl - pred.p) : pred.n;
        kvb_sv l = { pred.p + i, end - i };
        int bad = memchr(l.p, '`', l.n) || memchr(l.p, '#', l.n);
        for (size_t k = 0; !bad && k + 1 < l.n; k++)
            bad = l.p[k] == '/' && l.p[k + 1] == '/';
        if (!bad) {
            line = l;
            break;
        }
        if (!nl)
            break;
        i = end + 1;
    }
    int r;
    int rc = kvb_fuzz_ratio(line, gt, &r);
    if (rc)
        return rc;
    *score = r / 100.0;
    return 0;
}
