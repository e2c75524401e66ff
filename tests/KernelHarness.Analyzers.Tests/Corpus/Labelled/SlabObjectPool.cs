// A request/response object pool for a block-device shim: two slab caches, a kcalloc'd slot table and a
// backlog list. Holds frees into the wrong cache or allocator, unchecked cache allocations, a double free and leaks.
using System.Collections.Generic;
using KernelHarness;
using KernelHarness.Annotations;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.SlabObjectPool;

public struct blk_req
{
    public uint tag;
    public uint sector;
    public uint len;
    public int status;
}

public struct blk_resp
{
    public uint tag;
    public int result;
    public ulong done_at;
}

public sealed class ReqPool
{
    private const ulong NR_SLOTS = 64;
    private const ulong NAME_LEN = 32;
    private const uint MAX_SECTORS = 128;

    private kmem_cache? req_cache;
    private kmem_cache? resp_cache;
    private kptr slot_table;
    private kptr name_buf;
    private readonly spinlock_t pool_lock = new();
    private readonly List<kptr> backlog = new();
    private readonly List<kptr> completions = new();
    private uint next_tag;
    private int in_flight;

    public int pool_init()
    {
        req_cache = kmem_cache_create("blk_req", 16, 8, SLAB_HWCACHE_ALIGN, null);
        if (req_cache == null)
            return -ENOMEM;
        resp_cache = kmem_cache_create("blk_resp", 24, 8, SLAB_HWCACHE_ALIGN, null);
        if (resp_cache == null)
            goto err_req_cache;

        var table = kcalloc(NR_SLOTS, 8, GFP_KERNEL);
        if (table == NULL)
            goto err_resp_cache;
        var name = kmalloc(NAME_LEN, GFP_KERNEL);
        if (name == NULL)
        {
            kmem_cache_destroy(resp_cache);
            resp_cache = null;
            kmem_cache_destroy(req_cache);
            req_cache = null;
            return -ENOMEM; // expect: KH3004 (the kcalloc'd table is neither freed nor stored on this error path)
        }
        memset(name, 0, NAME_LEN); // ok: KH3002 (name was checked against NULL above)
        slot_table = table;
        name_buf = name;
        return 0;

    err_resp_cache:
        kmem_cache_destroy(resp_cache);
        resp_cache = null;
    err_req_cache:
        kmem_cache_destroy(req_cache);
        req_cache = null;
        return -ENOMEM; // ok: KH3004 (table is NULL on the only path with an allocation that reaches here)
    }

    // Process context or under pool_lock: the caller chooses the gfp (passed through).
    private kptr alloc_req(gfp_t gfp)
    {
        var req = kmem_cache_alloc(req_cache!, gfp);
        if (req == NULL)
            return NULL;
        ptr_ref<blk_req>(req).tag = ++next_tag; // ok: KH3002 (checked by the early return above)
        return req;
    }

    public int probe_disk(uint sector)
    {
        var req = alloc_req(GFP_KERNEL);
        if (req == NULL)
            return -ENOMEM;
        ptr_ref<blk_req>(req).sector = sector;
        int status = ptr_ref<blk_req>(req).status;
        kfree(req); // expect: KH3001 (req comes from kmem_cache_alloc(req_cache) via alloc_req(), freed with kfree)
        return status;
    }

    public int submit_sync(uint sector, uint len)
    {
        var req = kmem_cache_alloc(req_cache!, GFP_KERNEL);
        if (req == NULL)
            return -ENOMEM;
        ref var r = ref ptr_ref<blk_req>(req);
        r.sector = sector;
        r.len = len;
        var resp = kmem_cache_zalloc(resp_cache!, GFP_KERNEL);
        if (resp == NULL)
        {
            kmem_cache_free(req_cache!, req);
            return -ENOMEM; // ok: KH3004 (req is freed just above, resp is NULL)
        }
        ptr_ref<blk_resp>(resp).tag = r.tag;
        int result = ptr_ref<blk_resp>(resp).result;
        kmem_cache_free(resp_cache!, resp); // ok: KH3001 (resp came from resp_cache and goes back to it)
        kmem_cache_free(resp_cache!, req); // expect: KH3001 (req came from req_cache, freed into resp_cache)
        return result;
    }

    public void queue_write(uint sector, uint len)
    {
        var req = kmem_cache_alloc(req_cache!, GFP_KERNEL);
        ref var r = ref ptr_ref<blk_req>(req); // expect: KH3002 (kmem_cache_alloc can return NULL; no check before ptr_ref)
        r.sector = sector;
        r.len = len;
        spin_lock(pool_lock);
        backlog.Add(req);
        in_flight++;
        spin_unlock(pool_lock);
    }

    public int queue_read(uint sector, uint len)
    {
        var req = kmem_cache_zalloc(req_cache!, GFP_KERNEL);
        if (req == NULL)
            return -ENOMEM;
        ref var r = ref ptr_ref<blk_req>(req);
        r.sector = sector;
        r.len = len;
        if (len == 0 || len > MAX_SECTORS)
            return -EINVAL; // expect: KH3004 (req is neither freed nor queued when the length is rejected)
        spin_lock(pool_lock);
        backlog.Add(req);
        bool full = ++in_flight > (int)NR_SLOTS;
        spin_unlock(pool_lock);
        if (full)
            return -EBUSY; // ok: KH3004 (req was added to the backlog list, which owns it now)
        return 0;
    }

    // Allocates while holding pool_lock with interrupts off (atomic): GFP_ATOMIC is required.
    public kptr grab_req_atomic()
    {
        spin_lock_irqsave(pool_lock, out var flags);
        var req = alloc_req(GFP_ATOMIC);
        if (req != NULL)
        {
            ptr_ref<blk_req>(req).status = 0; // ok: KH3002 (inside the req != NULL branch)
            in_flight++;
        }
        spin_unlock_irqrestore(pool_lock, flags);
        return req;
    }

    public int retry_req(uint sector)
    {
        var req = kmem_cache_alloc(req_cache!, GFP_KERNEL);
        if (req == NULL)
            return -ENOMEM;
        ptr_ref<blk_req>(req).sector = sector;
        int err = 0;
        if (sector >= (1u << 30))
        {
            kmem_cache_free(req_cache!, req);
            err = -EINVAL;
        }
        kmem_cache_free(req_cache!, req); // expect: KH3003 (req was already freed on the out-of-range path, which falls through)
        return err;
    }

    public int finish_req(uint tag, int status)
    {
        var resp = kmem_cache_alloc(resp_cache!, GFP_KERNEL | __GFP_NOFAIL);
        ptr_ref<blk_resp>(resp).tag = tag; // ok: KH3002 (__GFP_NOFAIL allocations never return NULL)
        ptr_ref<blk_resp>(resp).result = status;
        ptr_ref<blk_resp>(resp).done_at = jiffies;
        hand_to_completion(resp);
        if (status < 0)
            return -EIO; // ok: KH3004 (resp was passed to hand_to_completion, whose parameter is [TakesOwnership])
        return 0;
    }

    private void hand_to_completion([TakesOwnership] kptr resp)
    {
        spin_lock(pool_lock);
        completions.Add(resp);
        spin_unlock(pool_lock);
    }

    public int check_req(uint sector)
    {
        var req = alloc_req(GFP_KERNEL);
        if (req == NULL)
            return -ENOMEM;
        ref var r = ref ptr_ref<blk_req>(req);
        r.sector = sector;
        if (r.status < 0)
        {
            int bad = r.status;
            kmem_cache_free(req_cache!, req);
            return bad;
        }
        kmem_cache_free(req_cache!, req); // ok: KH3003 (the other free is on the error path, which returned)
        return 0;
    }

    public int set_name(ulong len)
    {
        var fresh = kzalloc(len + 1, GFP_KERNEL);
        if (ZERO_OR_NULL_PTR(fresh))
            return -EINVAL; // ok: KH3004 (fresh is NULL or ZERO_SIZE_PTR here, nothing to free)
        memset(fresh, 0x20, len); // ok: KH3002 (ZERO_OR_NULL_PTR checked above)
        kfree(name_buf);
        name_buf = fresh;
        return 0;
    }

    public int grow_table(ulong nr)
    {
        var bigger = krealloc(slot_table, nr * 8, GFP_KERNEL);
        if (bigger == NULL)
            return -ENOMEM;
        slot_table = bigger;
        return 0;
    }

    public int scratch_copy(ulong len)
    {
        var scratch = kmalloc_array(len, 8, GFP_KERNEL);
        if (scratch == NULL)
            return -ENOMEM;
        memcpy(scratch, slot_table, len * 8);
        kfree(scratch); // ok: KH3001 (kmalloc_array memory freed with kfree)
        scratch = kmalloc(NAME_LEN, GFP_KERNEL);
        if (scratch == NULL)
            return -ENOMEM;
        memcpy(scratch, name_buf, NAME_LEN);
        kfree(scratch); // ok: KH3003 (scratch was reassigned to a new allocation between the two frees)
        return 0;
    }

    public void pool_exit()
    {
        spin_lock(pool_lock);
        foreach (var req in backlog)
            kmem_cache_free(req_cache!, req); // ok: KH3003 (each iteration frees a different backlog entry; req is rebound every time)
        backlog.Clear();
        foreach (var resp in completions)
            kmem_cache_free(resp_cache!, resp);
        completions.Clear();
        in_flight = 0;
        spin_unlock(pool_lock);
        kfree(slot_table); // ok: KH3001 (slot_table only ever holds kcalloc or krealloc memory)
        kvfree(name_buf); // ok: KH3001 (kvfree accepts kmalloc/kzalloc memory)
        kmem_cache_destroy(resp_cache);
        kmem_cache_destroy(req_cache);
        resp_cache = null;
        req_cache = null;
    }
}
