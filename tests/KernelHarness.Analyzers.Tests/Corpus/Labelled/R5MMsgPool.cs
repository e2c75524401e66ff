// A request/response message pool over two slab caches, with helpers that allocate and return and helpers that
// free their argument. Holds frees into the wrong cache, a loop leak, a double free, a held lock and an unlock of a lock not held.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R5MMsgPool;

public struct msg_hdr
{
    public uint id;
    public uint op;
    public uint len;
    public uint status;
    public ulong stamp;
}

public sealed class MsgPool
{
    private const int BATCH = 8;
    private const ulong REQ_SIZE = 128;
    private const ulong RSP_SIZE = 256;
    private const ulong BACKLOG_SIZE = 64 * PAGE_SIZE;

    private readonly spinlock_t pool_lock = new();
    private readonly mutex pool_mutex = new();
    private readonly work_struct reap_work = new();
    private readonly timer_list reap_timer = new();
    private readonly kptr[] inflight_req = new kptr[BATCH];
    private readonly kptr[] inflight_rsp = new kptr[BATCH];
    private kmem_cache? req_cache;
    private kmem_cache? rsp_cache;
    private kptr backlog = NULL;
    private kptr last_tick = NULL;
    private int nr_inflight;
    private uint next_id;

    public int init()
    {
        kmem_cache? rqc;
        kmem_cache? rsc;
        kptr bl;

        rqc = kmem_cache_create("r5m_req", REQ_SIZE, 8, SLAB_HWCACHE_ALIGN, null);
        if (rqc is null)
            return -ENOMEM;
        rsc = kmem_cache_create("r5m_rsp", RSP_SIZE, 8, SLAB_HWCACHE_ALIGN, null);
        if (rsc is null)
            goto err_destroy_req;
        bl = kvmalloc(BACKLOG_SIZE, GFP_KERNEL);
        if (bl == NULL)
            goto err_destroy_rsp;
        var boot = kmalloc(64, GFP_KERNEL | __GFP_NOFAIL);
        ptr_ref<msg_hdr>(boot).stamp = jiffies; // ok: a __GFP_NOFAIL allocation never returns NULL
        memcpy(bl, boot, 64);
        kfree(boot);

        req_cache = rqc;
        rsp_cache = rsc;
        backlog = bl;
        INIT_WORK(reap_work, reap_fn);
        timer_setup(reap_timer, reap_tick, 0);
        mod_timer(reap_timer, jiffies + HZ);
        return 0;

    err_destroy_rsp:
        kmem_cache_destroy(rsc);
    err_destroy_req:
        kmem_cache_destroy(rqc);
        return -ENOMEM;
    }

    // Helpers: allocate-and-return (the caller owns the result) and free-the-argument.
    private kptr alloc_req(uint op, gfp_t gfp)
    {
        var m = kmem_cache_zalloc(req_cache!, gfp);
        if (m == NULL)
            return NULL;
        ref var h = ref ptr_ref<msg_hdr>(m); // ok: m tested against NULL above
        h.id = ++next_id;
        h.op = op;
        h.len = (uint)REQ_SIZE;
        return m;
    }

    private kptr alloc_rsp(gfp_t gfp) => kmem_cache_alloc(rsp_cache!, gfp);

    private void free_req(kptr m) => kmem_cache_free(req_cache!, m);

    private void free_rsp(kptr m) => kmem_cache_free(rsp_cache!, m);

    public int exchange(uint op)
    {
        var rq = kmem_cache_alloc(req_cache!, GFP_KERNEL);
        if (rq == NULL)
            return -ENOMEM;
        var rs = kmem_cache_alloc(rsp_cache!, GFP_KERNEL);
        if (rs == NULL)
        {
            kmem_cache_free(req_cache!, rq); // ok: request object back to the cache it came from
            return -ENOMEM;
        }
        ptr_ref<msg_hdr>(rq).op = op;
        memcpy(rs, rq, REQ_SIZE);
        ptr_ref<msg_hdr>(rs).status = 0;
        kmem_cache_free(rsp_cache!, rq); // expect: KH3001 (request object from req_cache returned to rsp_cache)
        kmem_cache_free(rsp_cache!, rs); // ok: response object freed into rsp_cache, its own cache
        return 0;
    }

    public int exchange_async(uint op)
    {
        var rq = alloc_req(op, GFP_KERNEL);
        if (rq == NULL)
            return -ENOMEM;
        var rs = alloc_rsp(GFP_KERNEL);
        if (rs == NULL)
        {
            free_req(rq);
            return -ENOMEM; // ok: free_req returned rq to req_cache on every path
        }
        spin_lock_bh(pool_lock);
        if (nr_inflight >= BATCH)
        {
            spin_unlock_bh(pool_lock);
            free_rsp(rs);
            free_req(rq);
            return -EBUSY; // ok: both objects freed by their helpers, lock dropped
        }
        inflight_req[nr_inflight] = rq;
        inflight_rsp[nr_inflight] = rs;
        nr_inflight++;
        spin_unlock_bh(pool_lock);
        return 0;
    }

    public int ping()
    {
        var m = kmem_cache_alloc(req_cache!, GFP_KERNEL);
        if (m == NULL)
            return -ENOMEM;
        ref var h = ref ptr_ref<msg_hdr>(m);
        h.op = 0;
        h.stamp = jiffies;
        pr_info("r5m_msg: ping queued\n");
        kfree(m); // expect: KH3001 (kmem_cache_alloc object freed with kfree instead of kmem_cache_free)
        return 0;
    }

    public int peek_response()
    {
        var rs = alloc_rsp(GFP_KERNEL);
        memset(rs, 0, RSP_SIZE); // expect: KH3002 (alloc_rsp returns kmem_cache_alloc's result, which may be NULL, unchecked)
        free_rsp(rs);
        return 0;
    }

    // One request/response pair per slot; a failure unwinds the pairs made so far.
    public int submit_batch(int n)
    {
        int i;
        if (n <= 0 || n > BATCH)
            return -EINVAL;
        mutex_lock(pool_mutex); // ok: both exits below drop pool_mutex
        for (i = 0; i < n; i++)
        {
            var rq = kmem_cache_alloc(req_cache!, GFP_KERNEL);
            if (rq == NULL)
                goto err_unwind;
            var rs = kmem_cache_alloc(rsp_cache!, GFP_KERNEL);
            if (rs == NULL)
            {
                mutex_unlock(pool_mutex);
                return -ENOMEM; // expect: KH3004 (rq of this iteration is neither freed nor stored when the response allocation fails)
            }
            ptr_ref<msg_hdr>(rq).id = (uint)i;
            inflight_req[i] = rq;
            inflight_rsp[i] = rs;
        }
        nr_inflight = n;
        mutex_unlock(pool_mutex);
        return 0;

    err_unwind:
        while (--i >= 0)
        {
            kmem_cache_free(rsp_cache!, inflight_rsp[i]); // ok: response slots go back to rsp_cache
            kmem_cache_free(req_cache!, inflight_req[i]);
            inflight_rsp[i] = NULL;
            inflight_req[i] = NULL;
        }
        mutex_unlock(pool_mutex);
        return -ENOMEM; // ok: the pairs made so far are unwound, the failing rq is NULL
    }

    public int echo(uint op)
    {
        int err = 0;
        var rq = kmem_cache_alloc(req_cache!, GFP_KERNEL);
        if (rq == NULL)
            return -ENOMEM;
        var cur = rq;
        ptr_ref<msg_hdr>(cur).op = op;
        if (op == 0)
        {
            kmem_cache_free(req_cache!, cur);
            err = -EINVAL;
            goto done;
        }
        ptr_ref<msg_hdr>(cur).status = 1;
    done:
        kmem_cache_free(req_cache!, rq); // expect: KH3003 (cur aliases rq and was already freed on the op == 0 branch)
        return err;
    }

    // Widens a request buffer for large opcodes; the caller-visible pointer is reassigned, not the saved one.
    public int widen_request(uint op)
    {
        var small = kmalloc(REQ_SIZE, GFP_KERNEL);
        if (small == NULL)
            return -ENOMEM;
        ptr_ref<msg_hdr>(small).op = op;
        var buf = small;
        if (op > 0xff)
        {
            kfree(buf);
            buf = kmalloc(RSP_SIZE, GFP_KERNEL);
            if (buf == NULL)
                return -ENOMEM; // ok: small was freed through buf just above, and the new buf is NULL
            ptr_ref<msg_hdr>(buf).op = op;
        }
        ptr_ref<msg_hdr>(buf).len = (uint)REQ_SIZE;
        kfree(buf); // ok: on the op > 0xff path buf was reassigned after the earlier kfree; otherwise this is its first free
        kfree(small); // expect: KH3003 (small was already freed, through buf, on both paths)
        return 0;
    }

    public int claim_slot()
    {
        int slot;
        spin_lock_bh(pool_lock); // expect: KH2003 (pool_lock still held on the return -EBUSY)
        if (nr_inflight >= BATCH)
            return -EBUSY;
        slot = nr_inflight++;
        spin_unlock_bh(pool_lock);
        return slot;
    }

    public int flush_all(uint status)
    {
        int ret = 0;
        if (status == 0)
        {
            ret = -EINVAL;
            goto out_unlock;
        }
        mutex_lock(pool_mutex);
        for (int i = 0; i < nr_inflight; i++)
        {
            if (inflight_rsp[i] != NULL)
                ptr_ref<msg_hdr>(inflight_rsp[i]).status = status;
        }
    out_unlock:
        mutex_unlock(pool_mutex); // expect: KH2003 (on the status == 0 path pool_mutex is released without being held)
        return ret;
    }

    public int save_backlog(ulong len, bool big)
    {
        kptr copy = big ? vmalloc(len) : kmalloc(len, GFP_KERNEL);
        if (copy == NULL)
            return -ENOMEM;
        mutex_lock(pool_mutex);
        memcpy(copy, backlog, len < BACKLOG_SIZE ? len : BACKLOG_SIZE);
        mutex_unlock(pool_mutex);
        kvfree(copy); // ok: kvfree takes either vmalloc or kmalloc memory
        return 0;
    }

    // Softirq context.
    private void reap_tick(timer_list t)
    {
        var tick = kmalloc(32, GFP_ATOMIC);
        ptr_ref<ulong>(tick) = jiffies; // expect: KH3002 (GFP_ATOMIC kmalloc result stored through before any NULL check)
        spin_lock_irqsave(pool_lock, out var flags);
        var old = last_tick;
        last_tick = tick;
        spin_unlock_irqrestore(pool_lock, flags);
        kfree(old);
        schedule_work(reap_work);
        mod_timer(reap_timer, jiffies + HZ);
    }

    // Process context (work item).
    private void reap_fn(work_struct w)
    {
        mutex_lock(pool_mutex);
        for (int i = 0; i < nr_inflight; i++)
        {
            if (inflight_rsp[i] == NULL || ptr_ref<msg_hdr>(inflight_rsp[i]).status == 0)
                continue;
            free_rsp(inflight_rsp[i]);
            free_req(inflight_req[i]);
            inflight_rsp[i] = NULL;
            inflight_req[i] = NULL;
        }
        mutex_unlock(pool_mutex);
    }

    public void exit()
    {
        del_timer_sync(reap_timer);
        cancel_work_sync(reap_work);
        for (int i = 0; i < nr_inflight; i++)
        {
            if (inflight_req[i] != NULL)
                kmem_cache_free(req_cache!, inflight_req[i]);
            if (inflight_rsp[i] != NULL)
                kmem_cache_free(rsp_cache!, inflight_rsp[i]);
        }
        nr_inflight = 0;
        kfree(last_tick);
        last_tick = NULL;
        kvfree(backlog); // ok: kvmalloc memory freed with kvfree
        backlog = NULL;
        kmem_cache_destroy(rsp_cache);
        kmem_cache_destroy(req_cache);
    }
}
