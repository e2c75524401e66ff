// Allocation bugs in a buffer-pool module (KH3001–KH3004), and their correct neighbours.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.MemoryPool;

public struct hdr
{
    public uint len;
    public uint flags;
}

public sealed class Pool
{
    private kmem_cache? small;
    private kmem_cache? large;
    private kptr ring = NULL;
    private kptr scratch = NULL;
    private kptr table = NULL;
    private ulong pages;
    private int users;

    public int init()
    {
        small = kmem_cache_create("pool_small", 64, 8, 0, null);
        if (small is null)
            return -ENOMEM;
        large = kmem_cache_create("pool_large", 512, 8, 0, null);
        if (large is null)
        {
            kmem_cache_destroy(small);
            return -ENOMEM;
        }
        ring = kmem_cache_zalloc(small, GFP_KERNEL);
        if (ring == NULL)
            return -ENOMEM;
        var probe_buf = kmalloc(64, GFP_KERNEL);
        if (probe_buf == NULL)
            return -ENOMEM;
        table = vzalloc(1 << 16);
        if (table == NULL)
            return -ENOMEM; // expect: KH3004
        kfree(probe_buf);
        pages = __get_free_pages(GFP_KERNEL, 2);
        if (pages == 0)
        {
            vfree(table);
            table = NULL;
            return -ENOMEM;
        }
        return 0;
    }

    private kptr get_small() => kmem_cache_alloc(small!, GFP_KERNEL);

    private void put_large(kptr p) => kmem_cache_free(large!, p);

    private void put_small(kptr p) => kmem_cache_free(small!, p);

    public int push(uint len)
    {
        var h = get_small();
        ref var hd = ref ptr_ref<hdr>(h); // expect: KH3002
        hd.len = len;
        put_large(h); // expect: KH3001
        var ok = get_small();
        if (ok == NULL)
            return -ENOMEM;
        ptr_ref<hdr>(ok).len = len;
        put_small(ok);
        return 0;
    }

    public int stage(bool big)
    {
        var b = kmalloc(256, GFP_KERNEL);
        if (b == NULL)
            return -ENOMEM;
        memset(b, 0, 256);
        if (big)
        {
            vfree(b); // expect: KH3001
            return -EINVAL;
        }
        scratch = b;
        return 0;
    }

    public void drop_scratch()
    {
        kfree(scratch);
        scratch = NULL;
        kfree(scratch);
    }

    public int resize(ulong n)
    {
        var v = kvmalloc(n, GFP_KERNEL);
        if (v == NULL)
            return -ENOMEM;
        memset(v, 0, n);
        kfree(v); // expect: KH3001
        var w = kvmalloc(n, GFP_KERNEL);
        if (w == NULL)
            return -ENOMEM;
        kvfree(w);
        return 0;
    }

    public int exchange(bool fail)
    {
        int ret = 0;
        var a = kzalloc(128, GFP_KERNEL);
        if (a == NULL)
            return -ENOMEM;
        if (fail)
        {
            kfree(a);
            ret = -EIO;
        }
        kfree(a); // expect: KH3003
        return ret;
    }

    public int twin()
    {
        var a = kmalloc(32, GFP_KERNEL);
        if (a == NULL)
            return -ENOMEM;
        var b = kmalloc(32, GFP_KERNEL);
        if (b == NULL)
        {
            kfree(a);
            return -ENOMEM;
        }
        memcpy(a, b, 32);
        kfree(b);
        kfree(a);
        return 0;
    }

    public int attach(bool bad)
    {
        int ret;
        var a = kmem_cache_alloc(large!, GFP_KERNEL);
        if (a == NULL)
            return -ENOMEM;
        var b = kmem_cache_alloc(large!, GFP_KERNEL);
        if (b == NULL)
        {
            ret = -ENOMEM;
            goto free_a;
        }
        if (bad)
        {
            ret = -EINVAL;
            goto free_b;
        }
        users++;
        kmem_cache_free(large!, b);
        kmem_cache_free(large!, a);
        return 0;
    free_b:
        kmem_cache_free(large!, b);
    free_a:
        kmem_cache_free(large!, a);
        return ret;
    }

    public int leaky(bool bad)
    {
        var a = kmalloc(16, GFP_KERNEL);
        if (a == NULL)
            return -ENOMEM;
        if (bad)
            return -EBUSY; // expect: KH3004
        memset(a, 0, 16);
        kfree(a);
        return 0;
    }

    public void twice(kptr p)
    {
        kfree(p);
        users--;
        kfree(p); // expect: KH3003
    }

    public void exit()
    {
        free_pages(pages, 1); // expect: KH3001
        kfree(table); // expect: KH3001
        kfree(ring); // expect: KH3001
        kmem_cache_destroy(large);
        kmem_cache_destroy(small);
    }
}
