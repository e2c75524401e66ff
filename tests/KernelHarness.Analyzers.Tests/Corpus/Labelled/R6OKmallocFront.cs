// The kmalloc front end and vmalloc-like mapper of a student's ISlab: size classes pick a cache and the caller's
// gfp_t is passed down; chunks are mapped page by page and unwound on failure. Holds GFP misuse, bad and double frees.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R6OKmallocFront;

public sealed class vm_chunk
{
    public page?[] pages = new page?[0];
    public int nr;
    public kptr pfn_table;
}

public sealed class KmallocFront
{
    private static readonly ulong[] class_size = { 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096 };
    private const ulong VA_WINDOW_PAGES = 4096;

    private readonly kmem_cache?[] normal = new kmem_cache?[10];
    private readonly kmem_cache?[] dma = new kmem_cache?[10];
    private readonly rwlock_t class_lock = new();
    private readonly spinlock_t vm_lock = new();
    private readonly spinlock_t lazy_lock = new();
    private readonly vm_chunk?[] chunks = new vm_chunk?[64];
    private int nr_chunks;
    private kptr va_bitmap;
    private ulong va_bits;
    private ulong va_used;
    private kptr size_hist;
    private readonly kptr[] lazy = new kptr[32];
    private int lazy_nr;
    private readonly timer_list lazy_timer = new();
    private readonly work_struct purge_work = new();
    private static readonly percpu<long> small_allocs = DEFINE_PER_CPU<long>();
    private static readonly percpu<long> large_allocs = DEFINE_PER_CPU<long>();

    public KmallocFront()
    {
        timer_setup(lazy_timer, lazy_timer_fn, 0);
        INIT_WORK(purge_work, purge_work_fn);
    }

    public int init_caches()
    {
        kptr hist = kcalloc((ulong)class_size.Length, 8, GFP_KERNEL);
        if (hist == NULL)
            return -ENOMEM;
        for (int i = 0; i < class_size.Length; i++)
        {
            normal[i] = kmem_cache_create($"r6o-kmalloc-{class_size[i]}", class_size[i], 0, SLAB_KMALLOC, null);
            dma[i] = kmem_cache_create($"r6o-dma-kmalloc-{class_size[i]}", class_size[i], 0, SLAB_KMALLOC | SLAB_CACHE_DMA, null);
            if (normal[i] == null || dma[i] == null)
                return -ENOMEM; // expect: KH3004 (hist is neither freed nor stored on this path)
        }
        size_hist = hist;
        mod_timer(lazy_timer, jiffies + HZ);
        return 0;
    }

    private static int size_index(ulong size)
    {
        int i = 0;
        while (i < class_size.Length - 1 && class_size[i] < size)
            i++;
        return i;
    }

    private kmem_cache? pick_cache(ulong size, gfp_t gfp)
    {
        int i = size_index(size);
        read_lock(class_lock);
        kmem_cache? c = (gfp & __GFP_DMA) != 0 ? dma[i] : normal[i];
        read_unlock(class_lock);
        return c;
    }

    public ulong class_object_size(ulong size)
    {
        read_lock(class_lock); // expect: KH2003 (the early return for a missing class leaves class_lock read-held)
        kmem_cache? c = normal[size_index(size)];
        if (c == null)
            return 0;
        ulong s = c.size;
        read_unlock(class_lock);
        return s;
    }

    public kptr fk_alloc(ulong size, gfp_t gfp)
    {
        if (size == 0) return ZERO_SIZE_PTR;
        if (size > class_size[class_size.Length - 1]) return alloc_large(size, gfp);
        kmem_cache? c = pick_cache(size, gfp);
        if (c == null) return NULL;
        this_cpu_inc(small_allocs);
        return kmem_cache_alloc(c, gfp); // ok: KH1002 the caller's gfp passed through: callers are checked
    }

    private kptr alloc_large(ulong size, gfp_t gfp)
    {
        ulong addr = __get_free_pages(gfp, get_order(size)); // ok: KH1002 gfp passed through from fk_alloc's caller
        if (addr == 0) return NULL;
        this_cpu_inc(large_allocs);
        return (kptr)addr;
    }

    public void fk_free(kptr p, ulong size)
    {
        if (ZERO_OR_NULL_PTR(p)) return;
        kmem_cache? c = virt_to_page(p).slab_cache;
        if (size > class_size[class_size.Length - 1]) free_pages((ulong)p, get_order(size));
        else if (c != null) kmem_cache_free(c, p);
    }

    public kptr fk_alloc_dma32(ulong size) => kmalloc(size, GFP_KERNEL | __GFP_DMA32); // expect: KH1004 (__GFP_DMA32 passed to kmalloc: in GFP_SLAB_BUG_MASK)
    public kptr fk_alloc_dma(ulong size) => kmalloc(size, GFP_KERNEL | __GFP_DMA); // ok: KH1004 __GFP_DMA alone is valid for kmalloc (the dma caches)
    public kptr fk_alloc_user(ulong size) => kzalloc(size, GFP_HIGHUSER); // expect: KH1004 (GFP_HIGHUSER carries __GFP_HIGHMEM, which kmalloc must not get)
    public kptr fk_alloc_atomic(ulong size) => kmalloc(size, GFP_ATOMIC | __GFP_NOWARN); // ok: KH1003 public API: callers unknown, may be atomic
    public kptr fk_alloc_must(ulong size) => kmalloc(size, GFP_KERNEL | __GFP_NOFAIL); // ok: KH1004 __GFP_NOFAIL with GFP_KERNEL, which may block: valid

    public int note_alloc(ulong size)
    {
        ref long n = ref get_cpu_var(small_allocs); // expect: KH2001 (the -EINVAL return for size 0 leaves preemption disabled)
        if (size == 0)
            return -EINVAL;
        n++;
        put_cpu_var(small_allocs);
        return 0;
    }

    public long snapshot_allocs()
    {
        local_irq_save(out ulong flags); // ok: KH2002 the finally block restores on the return
        try
        {
            return this_cpu_read(small_allocs) + this_cpu_read(large_allocs);
        }
        finally
        {
            local_irq_restore(flags);
        }
    }

    public void reset_local_counts()
    {
        local_irq_disable(); // ok: KH2002 enabled again on the only path; no save region is open
        this_cpu_write(small_allocs, 0);
        this_cpu_write(large_allocs, 0);
        local_irq_enable();
    }

    // vmalloc-like: nr pages allocated one by one plus a pfn table; everything is unwound on failure.
    public static int map_chunk(vm_chunk c, int nr, gfp_t gfp)
    {
        kptr table = kcalloc((ulong)nr, 8, gfp); // ok: KH1002 gfp passed through from the caller
        if (table == NULL)
            return -ENOMEM;
        c.pages = new page?[nr];
        for (int i = 0; i < nr; i++)
        {
            page? pg = alloc_page(gfp); // ok: KH1002 gfp passed through from the caller
            if (pg == null)
            {
                while (--i >= 0)
                    __free_page(c.pages[i]!);
                c.pages = new page?[0];
                kfree(table);
                return -ENOMEM; // ok: KH3004 the table and every page mapped so far are freed before this return
            }
            c.pages[i] = pg;
            ptr_ref<ulong>(table + (ulong)i * 8) = page_to_pfn(pg);
        }
        c.pfn_table = table;
        c.nr = nr;
        return 0;
    }

    private static int grow_chunk(vm_chunk c, int more, gfp_t gfp)
    {
        int nr = c.nr + more;
        kptr table = kcalloc((ulong)nr, 8, gfp);
        if (table == NULL)
            return -ENOMEM;
        page?[] pages = new page?[nr];
        System.Array.Copy(c.pages, pages, c.nr);
        for (int i = c.nr; i < nr; i++)
        {
            page? pg = alloc_page(gfp);
            if (pg == null)
            {
                for (int j = c.nr; j < i; j++)
                    __free_page(pages[j]!);
                return -ENOMEM; // expect: KH3004 (the new pfn table is neither freed nor stored on this path)
            }
            pages[i] = pg;
            ptr_ref<ulong>(table + (ulong)i * 8) = page_to_pfn(pg);
        }
        if (c.nr > 0) memcpy(table, c.pfn_table, (ulong)c.nr * 8);
        kfree(c.pfn_table);
        c.pfn_table = table;
        c.pages = pages;
        c.nr = nr;
        return 0;
    }

    public int vm_register(vm_chunk c)
    {
        spin_lock(vm_lock);
        int err = nr_chunks < chunks.Length ? 0 : -ENOSPC;
        if (err == 0) chunks[nr_chunks++] = c;
        spin_unlock(vm_lock);
        return err;
    }

    public int vm_grow_all()
    {
        int err = 0;
        spin_lock(vm_lock);
        for (int i = 0; i < nr_chunks && err == 0; i++)
        {
            vm_chunk? c = chunks[i];
            if (c != null)
                err = grow_chunk(c, 1, GFP_KERNEL); // expect: KH1002 (GFP_KERNEL passed to grow_chunk, which allocates with it, while vm_lock is held)
        }
        spin_unlock(vm_lock);
        return err;
    }

    public int vm_reserve_va(ulong pages)
    {
        spin_lock(vm_lock);
        if (va_used + pages > va_bits)
        {
            ulong bits = va_bits == 0 ? VA_WINDOW_PAGES : va_bits * 2;
            kptr bigger = vzalloc(bits / 8); // expect: KH1001 (vzalloc may sleep while spinlock vm_lock is held)
            if (bigger == NULL)
            {
                spin_unlock(vm_lock);
                return -ENOMEM;
            }
            if (va_bitmap != NULL) memcpy(bigger, va_bitmap, va_bits / 8);
            vfree(va_bitmap); // expect: KH1001 (vfree may sleep in process context; vm_lock is held)
            va_bitmap = bigger;
            va_bits = bits;
        }
        va_used += pages;
        spin_unlock(vm_lock);
        return 0;
    }

    public int vm_shrink_va()
    {
        ulong bits = va_bits / 2;
        if (bits < VA_WINDOW_PAGES) return 0;
        kptr smaller = vzalloc(bits / 8); // ok: KH1001 allocated before vm_lock is taken
        if (smaller == NULL)
            return -ENOMEM;
        spin_lock(vm_lock);
        if (va_used > bits || va_bitmap == NULL)
        {
            spin_unlock(vm_lock);
            vfree(smaller); // ok: KH1001 vfree after the unlock, in process context
            return -EBUSY; // ok: KH3004 smaller was freed just above
        }
        memcpy(smaller, va_bitmap, bits / 8);
        kptr old = va_bitmap;
        va_bitmap = smaller;
        va_bits = bits;
        spin_unlock(vm_lock);
        vfree(old);
        return 0;
    }

    // Defers a vfree to the lazy timer.
    public void fk_vfree_lazy(kptr p)
    {
        spin_lock_bh(lazy_lock);
        bool queued = lazy_nr < lazy.Length;
        if (queued)
            lazy[lazy_nr++] = p;
        spin_unlock_bh(lazy_lock);
        if (!queued)
            vfree(p);
    }

    // Timer (softirq).
    private void lazy_timer_fn(timer_list t)
    {
        kptr[] batch = new kptr[lazy.Length];
        spin_lock(lazy_lock);
        int n = lazy_nr;
        System.Array.Copy(lazy, batch, n);
        lazy_nr = 0;
        spin_unlock(lazy_lock);
        for (int i = 0; i < n; i++)
            vfree(batch[i]); // ok: KH1001 vfree in softirq (timer) context: Linux defers the free instead of sleeping
        kptr snap = fk_alloc(64, GFP_KERNEL); // expect: KH1002 (GFP_KERNEL passed to fk_alloc, which allocates with it, in a timer (softirq) callback)
        if (snap != NULL)
        {
            ptr_ref<long>(snap) = this_cpu_read(small_allocs);
            fk_free(snap, 64);
        }
        kptr hint = kzalloc(16, GFP_ATOMIC | __GFP_NOFAIL); // expect: KH1004 (__GFP_NOFAIL with GFP_ATOMIC, which cannot block)
        kfree(hint);
        kptr rec = kmalloc(32, GFP_ATOMIC); // ok: KH1003 timer callback: softirq context needs GFP_ATOMIC
        if (rec != NULL)
        {
            ptr_ref<int>(rec) = n;
            kfree(rec);
        }
        if (n > lazy.Length / 2)
            schedule_work(purge_work);
        mod_timer(lazy_timer, jiffies + HZ);
    }

    // Work item (process context): checks every chunk's pfn table against its pages.
    private void purge_work_fn(work_struct w)
    {
        kptr scratch = vmalloc(PAGE_SIZE * 4); // ok: KH1001 vmalloc in a work item: process context, nothing held
        if (scratch == NULL)
            return;
        kptr bad_idx = kmalloc_array(64, 4, GFP_ATOMIC); // expect: KH1003 (work item: process context, nothing held)
        if (bad_idx == NULL)
        {
            vfree(scratch);
            return;
        }
        int bad = 0;
        spin_lock(vm_lock);
        for (int i = 0; i < nr_chunks && bad < 64; i++)
        {
            vm_chunk? c = chunks[i];
            if (c == null || c.nr == 0) continue;
            memcpy(scratch, c.pfn_table, min((ulong)c.nr * 8, PAGE_SIZE * 4));
            page? first = c.pages[0];
            if (first != null && ptr_ref<ulong>(scratch) != page_to_pfn(first))
                ptr_ref<int>(bad_idx + (ulong)bad++ * 4) = i;
        }
        spin_unlock(vm_lock);
        if (bad > 0)
        {
            pr_err($"kmalloc-front: {bad} chunks with a stale pfn table");
            vfree(scratch);
        }
        vfree(scratch); // expect: KH3003 (scratch was already freed on the bad > 0 path)
        kfree(bad_idx);
    }
}
