// A pool of objects from two slab caches, vmalloc'd tables and page buffers: every allocation goes back
// to its own allocator, is checked before use, freed once, and undone on every error path.
using System.Collections.Generic;
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Valid.ObjectPool;

public struct entry
{
    public uint key;
    public ulong stamp;
}

public sealed class ObjectPool
{
    private kmem_cache? entries;
    private kmem_cache? blobs;
    private kptr index = NULL;
    private kptr names = NULL;
    private ulong pagebuf;
    private readonly List<kptr> live = new();

    public int init()
    {
        int ret;
        entries = kmem_cache_create("pool_entry", 16, 8, 0, null);
        if (entries is null)
            return -ENOMEM;
        blobs = kmem_cache_create("pool_blob", 256, 8, 0, null);
        if (blobs is null)
        {
            ret = -ENOMEM;
            goto destroy_entries;
        }
        index = vzalloc(1 << 16);
        if (index == NULL)
        {
            ret = -ENOMEM;
            goto destroy_blobs;
        }
        names = kvmalloc(1 << 12, GFP_KERNEL);
        if (ZERO_OR_NULL_PTR(names))
        {
            ret = -ENOMEM;
            goto free_index;
        }
        pagebuf = __get_free_pages(GFP_KERNEL, 1);
        if (pagebuf == 0)
        {
            ret = -ENOMEM;
            goto free_names;
        }
        return 0;
    free_names:
        kvfree(names);
        names = NULL;
    free_index:
        vfree(index);
        index = NULL;
    destroy_blobs:
        kmem_cache_destroy(blobs);
    destroy_entries:
        kmem_cache_destroy(entries);
        return ret;
    }

    private kptr new_entry(uint key)
    {
        var e = kmem_cache_zalloc(entries!, GFP_KERNEL);
        if (e == NULL)
            return NULL;
        ref var en = ref ptr_ref<entry>(e);
        en.key = key;
        en.stamp = jiffies;
        return e;
    }

    private void free_entry(kptr e) => kmem_cache_free(entries!, e);

    public int add(uint key)
    {
        var e = new_entry(key);
        if (e == NULL)
            return -ENOMEM;
        var blob = kmem_cache_alloc(blobs!, GFP_KERNEL);
        if (blob == NULL)
        {
            free_entry(e);
            return -ENOMEM;
        }
        memset(blob, 0, 256);
        live.Add(e);
        kmem_cache_free(blobs!, blob);
        return 0;
    }

    public int grow(ulong n)
    {
        var a = kcalloc(n, 8, GFP_KERNEL);
        if (a == NULL)
            return -ENOMEM;
        var b = krealloc(a, n * 16, GFP_KERNEL);
        if (b == NULL)
        {
            kfree(a);
            return -ENOMEM;
        }
        memset(b, 0, n * 16);
        kfree(b);
        return 0;
    }

    public int with_nofail()
    {
        var p = kmalloc(32, GFP_KERNEL | __GFP_NOFAIL);
        memset(p, 0, 32);
        kfree(p);
        return 0;
    }

    public void copy_page()
    {
        var pg = alloc_pages(GFP_KERNEL, 2);
        if (pg == null)
            return;
        __free_pages(pg, 2);
    }

    public void exit()
    {
        foreach (var e in live)
            free_entry(e);
        live.Clear();
        free_pages(pagebuf, 1);
        kvfree(names);
        names = NULL;
        vfree(index);
        index = NULL;
        kmem_cache_destroy(blobs);
        kmem_cache_destroy(entries);
    }
}
