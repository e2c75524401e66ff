// A resizable hash table: nodes from a slab cache, bucket arrays from kvmalloc/vzalloc, an rwlock for writers and RCU for
// readers. Holds a write lock and an RCU section left open on error returns, leaks, a mismatched free through a helper, a double free.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R5MHashTable;

public struct hnode
{
    public ulong key;
    public ulong val;
    public ulong next;
}

public sealed class HashTable
{
    private const ulong NODE_SIZE = 24;
    private const ulong SLOT = 8;
    private const uint MAX_CHAIN = 16;

    private readonly rwlock_t tbl_lock = new();
    private kmem_cache? node_cache;
    private kptr buckets = NULL;
    private kptr tbl_stats = NULL;
    private uint nbuckets;
    private uint count;
    private uint max_entries;

    public int init(uint n, uint max)
    {
        kmem_cache? cache;
        kptr b;
        kptr st;

        if (n == 0 || max == 0)
            return -EINVAL;
        cache = kmem_cache_create("r5m_hnode", NODE_SIZE, 8, SLAB_HWCACHE_ALIGN, null);
        if (cache is null)
            return -ENOMEM;
        b = kvmalloc(n * SLOT, GFP_KERNEL);
        if (b == NULL)
            goto err_destroy;
        st = kzalloc(64, GFP_KERNEL);
        if (st == NULL)
            goto err_free_buckets;
        memset(b, 0, n * SLOT); // ok: b tested against NULL above

        node_cache = cache;
        buckets = b;
        tbl_stats = st;
        nbuckets = n;
        max_entries = max;
        return 0;

    err_free_buckets:
        kvfree(b); // ok: kvmalloc memory freed with kvfree
    err_destroy:
        kmem_cache_destroy(cache);
        return -ENOMEM; // ok: the ladder frees what was made before each failing step
    }

    private static kptr alloc_bucket_array(uint n) => vzalloc(n * SLOT);

    private ulong bucket_of(ulong key, uint n) => (key * 0x9e3779b97f4a7c15UL) % n;

    private kptr find_locked(ulong key)
    {
        ulong addr = ptr_ref<ulong>(buckets + bucket_of(key, nbuckets) * SLOT);
        while (addr != 0)
        {
            var n = (kptr)addr;
            if (ptr_ref<hnode>(n).key == key)
                return n;
            addr = ptr_ref<hnode>(n).next;
        }
        return NULL;
    }

    private void link_locked(kptr n)
    {
        ref ulong head = ref ptr_ref<ulong>(buckets + bucket_of(ptr_ref<hnode>(n).key, nbuckets) * SLOT);
        ptr_ref<hnode>(n).next = head;
        head = (ulong)n;
        count++;
    }

    public int insert(ulong key, ulong val)
    {
        var n = kmem_cache_alloc(node_cache!, GFP_KERNEL);
        if (n == NULL)
            return -ENOMEM;
        ref var hn = ref ptr_ref<hnode>(n);
        hn.key = key;
        hn.val = val;
        write_lock(tbl_lock); // expect: KH2003 (tbl_lock still held on the return -ENOSPC)
        if (count >= max_entries)
            return -ENOSPC; // expect: KH3004 (node n is neither freed nor linked when the table is full)
        if (find_locked(key) != NULL)
        {
            write_unlock(tbl_lock);
            kmem_cache_free(node_cache!, n);
            return -EEXIST; // ok: lock dropped and node returned to its cache
        }
        link_locked(n);
        write_unlock(tbl_lock);
        return 0;
    }

    public int add_alias(ulong key, ulong target)
    {
        var n = kmem_cache_zalloc(node_cache!, GFP_KERNEL);
        ptr_ref<hnode>(n).key = key; // expect: KH3002 (kmem_cache_zalloc result dereferenced before the NULL check below)
        if (n == NULL)
            return -ENOMEM;
        ptr_ref<hnode>(n).val = target;
        write_lock(tbl_lock);
        link_locked(n);
        write_unlock(tbl_lock);
        return 0;
    }

    public int lookup(ulong key, out ulong val)
    {
        val = 0;
        rcu_read_lock(); // expect: KH2003 (RCU read-side section not ended on the return -ENOENT)
        var n = find_locked(key);
        if (n == NULL)
            return -ENOENT;
        val = ptr_ref<hnode>(n).val;
        rcu_read_unlock();
        return 0;
    }

    public int lookup_copy(ulong key, out ulong val)
    {
        int ret = 0;
        val = 0;
        read_lock(tbl_lock); // ok: the only exit goes through out_unlock
        var n = find_locked(key);
        if (n == NULL)
        {
            ret = -ENOENT;
            goto out_unlock;
        }
        val = ptr_ref<hnode>(n).val;
    out_unlock:
        read_unlock(tbl_lock);
        return ret;
    }

    // One node per key; a failure frees the nodes made so far, which nothing else has seen yet.
    public int populate(ulong first, int nr)
    {
        int i;
        if (nr <= 0 || nr > 64)
            return -EINVAL;
        var made = new kptr[nr];
        for (i = 0; i < nr; i++)
        {
            var n = kmem_cache_zalloc(node_cache!, GFP_KERNEL);
            if (n == NULL)
                goto err_unwind;
            ptr_ref<hnode>(n).key = first + (ulong)i; // ok: n tested against NULL just above
            made[i] = n;
        }
        write_lock(tbl_lock);
        for (i = 0; i < nr; i++)
            link_locked(made[i]);
        write_unlock(tbl_lock);
        return 0;

    err_unwind:
        while (--i >= 0)
            kmem_cache_free(node_cache!, made[i]); // ok: each pass frees a different node made above, once
        return -ENOMEM; // ok: every node made before the failure was freed by the loop
    }

    public int resize(uint new_n)
    {
        kptr nb;
        kptr scratch;
        uint worst = 0;

        if (new_n == 0)
            return -EINVAL;
        nb = alloc_bucket_array(new_n);
        if (nb == NULL)
            return -ENOMEM;
        scratch = kcalloc(new_n, 4, GFP_KERNEL);
        if (scratch == NULL)
        {
            kvfree(nb); // ok: kvfree takes the vzalloc memory alloc_bucket_array returned
            return -ENOMEM;
        }
        write_lock(tbl_lock);
        for (uint b = 0; b < nbuckets; b++)
        {
            ulong addr = ptr_ref<ulong>(buckets + b * SLOT);
            for (; addr != 0; addr = ptr_ref<hnode>((kptr)addr).next)
            {
                ref uint c = ref ptr_ref<uint>(scratch + bucket_of(ptr_ref<hnode>((kptr)addr).key, new_n) * 4);
                c++;
                if (c > worst)
                    worst = c;
            }
        }
        if (worst > MAX_CHAIN)
        {
            write_unlock(tbl_lock);
            kfree(scratch);
            goto err_free_nb;
        }
        var old = buckets;
        var oldn = nbuckets;
        buckets = nb;
        nbuckets = new_n;
        count = 0;
        for (uint b = 0; b < oldn; b++)
        {
            ulong addr = ptr_ref<ulong>(old + b * SLOT);
            while (addr != 0)
            {
                ulong next = ptr_ref<hnode>((kptr)addr).next;
                link_locked((kptr)addr);
                addr = next;
            }
        }
        write_unlock(tbl_lock);
        kfree(scratch);
        kvfree(old); // ok: buckets holds kvmalloc (init) or vzalloc (resize) memory, and kvfree takes both
        return 0;

    err_free_nb:
        vfree(nb);
        kfree(scratch); // expect: KH3003 (scratch was already freed before the goto err_free_nb)
        return -ENOSPC;
    }

    public bool check_layout(uint n)
    {
        var nb = alloc_bucket_array(n);
        if (nb == NULL)
            return false;
        bool clean = ptr_ref<ulong>(nb) == 0;
        kfree(nb); // expect: KH3001 (alloc_bucket_array returns vzalloc memory, freed here with kfree)
        return clean;
    }

    public int set_tag(kptr src, ulong len)
    {
        if (len == 0 || len > 64)
            return -EINVAL;
        var t = kmalloc(len, GFP_KERNEL);
        if (t == NULL)
            return -ENOMEM;
        memcpy(t, src, len);
        memcpy(tbl_stats, t, len);
        vfree(t); // expect: KH3001 (kmalloc memory freed with vfree)
        return 0;
    }

    public int export_table(ulong ubuf)
    {
        var out_buf = kvmalloc(nbuckets * NODE_SIZE, GFP_KERNEL);
        if (out_buf == NULL)
            return -ENOMEM;
        for (uint b = 0; b < nbuckets; b++)
        {
            var tmp = kmem_cache_alloc(node_cache!, GFP_KERNEL);
            if (tmp == NULL)
                return -ENOMEM; // expect: KH3004 (out_buf from kvmalloc leaks when a per-bucket node allocation fails)
            read_lock(tbl_lock);
            ulong addr = ptr_ref<ulong>(buckets + b * SLOT);
            if (addr != 0)
                memcpy(tmp, (kptr)addr, NODE_SIZE);
            else
                memset(tmp, 0, NODE_SIZE);
            read_unlock(tbl_lock);
            memcpy(out_buf + b * NODE_SIZE, tmp, NODE_SIZE);
            kmem_cache_free(node_cache!, tmp);
        }
        if (copy_to_user(ubuf, out_buf, nbuckets * NODE_SIZE) != 0)
        {
            kvfree(out_buf);
            return -EFAULT; // ok: out_buf freed before the error return
        }
        kvfree(out_buf); // ok: the other kvfree is on the -EFAULT path, which has already returned
        return 0;
    }

    public void destroy()
    {
        write_lock(tbl_lock);
        for (uint b = 0; b < nbuckets; b++)
        {
            ulong addr = ptr_ref<ulong>(buckets + b * SLOT);
            while (addr != 0)
            {
                ulong next = ptr_ref<hnode>((kptr)addr).next;
                kmem_cache_free(node_cache!, (kptr)addr);
                addr = next;
            }
        }
        var b0 = buckets;
        buckets = NULL;
        nbuckets = 0;
        count = 0;
        write_unlock(tbl_lock);
        kvfree(b0);
        kfree(tbl_stats);
        tbl_stats = NULL;
        kmem_cache_destroy(node_cache);
        node_cache = null;
    }
}
