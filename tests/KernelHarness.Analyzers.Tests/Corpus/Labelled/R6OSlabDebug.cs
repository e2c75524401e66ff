// The debug layer of a student's ISlab: poisoning and red-zone checks reported with printk, a quarantine of freed
// objects drained by a shrinker (timer, work item, scrub thread), and boot self-tests. Holds free mix-ups and GFP slips.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R6OSlabDebug;

public sealed class SlabDebug
{
    private const ulong REDZONE = 8;
    private const int Q_MAX = 256;

    private readonly kmem_cache objcache;
    private readonly kmem_cache metacache;
    private readonly spinlock_t q_lock = new();
    private readonly mutex shrink_mutex = new();
    private readonly kptr[] q_obj = new kptr[Q_MAX];
    private readonly kmem_cache?[] q_cache = new kmem_cache?[Q_MAX];
    private int q_head, q_nr;
    private kptr shadow, track;
    private page? scrub_page;
    private task_struct? scrubber;
    private readonly timer_list scan_timer = new();
    private readonly work_struct shrink_work = new();
    private static readonly percpu<long> bad_objects = DEFINE_PER_CPU<long>();

    public SlabDebug(kmem_cache objs, kmem_cache meta)
    {
        objcache = objs;
        metacache = meta;
        timer_setup(scan_timer, scan_timer_fn, 0);
        INIT_WORK(shrink_work, shrink_work_fn);
    }

    // SLUB's init_object for a freed object: POISON_FREE bytes, POISON_END in the last one.
    private static void poison_object(kptr obj, ulong size)
    {
        memset(obj, POISON_FREE, size - 1);
        ptr_ref<byte>(obj + (size - 1)) = POISON_END;
    }

    // check_bytes_and_report: the first byte that is not the poison is reported with printk.
    private static bool check_poison(kptr obj, ulong size)
    {
        var bytes = ptr_span(obj, size);
        for (int i = 0; i < bytes.Length; i++)
        {
            byte want = i == bytes.Length - 1 ? POISON_END : POISON_FREE;
            if (bytes[i] == want) continue;
            printk($"BUG: poison overwritten at {obj + i}: 0x{bytes[i]:x2} instead of 0x{want:x2}\n");
            return false;
        }
        return true;
    }

    private static bool check_redzone(kptr obj, ulong size)
    {
        var left = ptr_span(obj - (int)REDZONE, REDZONE);
        var right = ptr_span(obj + size, REDZONE);
        for (int i = 0; i < (int)REDZONE; i++)
        {
            if (left[i] == SLUB_RED_ACTIVE && right[i] == SLUB_RED_ACTIVE) continue;
            pr_err($"BUG: red zone overwritten around {obj} (byte {i})");
            return false;
        }
        return true;
    }

    // Snapshot of a bad object in a buffer allocated with the caller's flags, then reported.
    private static void report_object(kptr obj, ulong len, gfp_t gfp)
    {
        kptr dump = kmalloc(len, gfp); // ok: KH1002 gfp passed through: the callers choose it
        if (dump == NULL)
            return;
        memcpy(dump, obj, len);
        if (ptr_ref<ulong>(dump) == 0)
        {
            pr_err($"slab-debug: object {obj} starts with a zero word");
            kfree(dump); // ok: KH3003 this branch returns: disjoint from the kfree(dump) below
            return;
        }
        pr_err($"slab-debug: object {obj}: first word 0x{ptr_ref<ulong>(dump):x16}");
        kfree(dump);
    }

    // Debug free: check, poison, then park the object in the quarantine; the oldest one is really freed.
    public void debug_free(kmem_cache c, kptr obj)
    {
        if (!check_redzone(obj, c.object_size))
            report_object(obj, c.object_size, GFP_ATOMIC); // ok: KH1002 GFP_ATOMIC: debug_free may be called from any context
        poison_object(obj, c.object_size);
        kptr evicted = NULL;
        kmem_cache? ec = null;
        spin_lock_irqsave(q_lock, out ulong flags);
        int slot = (q_head + q_nr) % Q_MAX;
        if (q_nr == Q_MAX)
        {
            evicted = q_obj[q_head];
            ec = q_cache[q_head];
            q_head = (q_head + 1) % Q_MAX;
            q_nr--;
        }
        q_obj[slot] = obj;
        q_cache[slot] = c;
        q_nr++;
        spin_unlock_irqrestore(q_lock, flags);
        if (ec != null)
            kmem_cache_free(ec, evicted);
    }

    // Prints the start of a slab page through an atomic mapping.
    public int dump_slab_page(page pg, int words)
    {
        kptr va = kmap_atomic(pg); // expect: KH2003 (the -EINVAL return leaves the kmap_atomic mapping in place)
        if (words <= 0 || (ulong)words * 8 > PAGE_SIZE) return -EINVAL;
        for (int i = 0; i < words; i++)
            printk($"  {va + i * 8}: 0x{ptr_ref<ulong>(va + i * 8):x16}\n");
        kunmap_atomic(va);
        return 0;
    }

    private static bool page_poison_ok(page pg, ulong objsize)
    {
        kptr va = kmap_atomic(pg); // ok: KH2003 kunmap_atomic runs before each of the two returns
        for (ulong off = 0; off + objsize <= PAGE_SIZE; off += objsize)
        {
            if (!check_poison(va + off, objsize))
            {
                kunmap_atomic(va);
                return false;
            }
        }
        kunmap_atomic(va);
        return true;
    }

    // Re-poisons a (possibly highmem) page through kmap, which may sleep.
    private static void scrub_highmem(page pg)
    {
        kptr va = kmap(pg);
        poison_object(va, PAGE_SIZE);
        kunmap(pg);
    }

    // Timer (softirq): spot-checks the oldest quarantined objects and the scrub page.
    private void scan_timer_fn(timer_list t)
    {
        int bad = 0;
        spin_lock_irqsave(q_lock, out ulong flags);
        for (int i = 0; i < q_nr && i < 8; i++)
        {
            int slot = (q_head + i) % Q_MAX;
            kmem_cache? c = q_cache[slot];
            if (c != null && !check_poison(q_obj[slot], c.object_size)) bad++;
        }
        bool crowded = q_nr > Q_MAX / 2;
        spin_unlock_irqrestore(q_lock, flags);
        if (bad > 0)
        {
            this_cpu_add(bad_objects, (long)bad);
            kptr note = kmalloc(64, GFP_ATOMIC); // ok: KH1003 timer callback: softirq context needs GFP_ATOMIC
            if (note != NULL) ptr_ref<int>(note) = bad;
            kfree(note);
        }
        if (scrub_page != null && !page_poison_ok(scrub_page, 64))
            scrub_highmem(scrub_page); // expect: KH1001 (scrub_highmem calls kmap, which may sleep, from a timer (softirq) callback)
        if (crowded) schedule_work(shrink_work);
        mod_timer(scan_timer, jiffies + HZ);
    }

    // Work item (process context): the shrinker: empties the quarantine into the caches.
    private void shrink_work_fn(work_struct w)
    {
        kptr[] objs = new kptr[Q_MAX];
        kmem_cache?[] caches = new kmem_cache?[Q_MAX];
        mutex_lock(shrink_mutex); // ok: KH1001 work item: process context, nothing held yet
        spin_lock_irqsave(q_lock, out ulong flags);
        int n = q_nr;
        for (int i = 0; i < n; i++)
        {
            objs[i] = q_obj[(q_head + i) % Q_MAX];
            caches[i] = q_cache[(q_head + i) % Q_MAX];
        }
        q_head = q_nr = 0;
        kptr stats = kmalloc(16, GFP_ATOMIC); // ok: KH1003 q_lock is held with interrupts off: atomic even in a work item
        spin_unlock_irqrestore(q_lock, flags);
        int bad = 0;
        for (int i = 0; i < n; i++)
        {
            kmem_cache? c = caches[i];
            if (c == null) continue;
            if (!check_poison(objs[i], c.object_size))
            {
                report_object(objs[i], c.object_size, GFP_KERNEL); // ok: KH1002 process context; only shrink_mutex, a sleeping lock, is held
                bad++;
            }
            kmem_cache_free(c, objs[i]);
        }
        kmem_cache_shrink(objcache);
        mutex_unlock(shrink_mutex);
        if (stats != NULL) ptr_ref<int>(stats) = bad;
        kfree(stats);
    }

    // Kernel thread (process context): keeps a highmem page poisoned as a canary.
    private int scrubber_fn(object? data)
    {
        ulong buf = __get_free_page(GFP_ATOMIC); // expect: KH1003 (kernel thread: process context with nothing held)
        if (buf == 0) return -ENOMEM;
        page? hp = alloc_pages(GFP_HIGHUSER, 0); // ok: KH1004 __GFP_HIGHMEM through the page allocator is a valid request
        while (!kthread_should_stop())
        {
            int cpu = get_cpu(); // ok: KH2001 put_cpu runs on every iteration before the sleep
            kptr tmp = kmalloc(16, GFP_ATOMIC); // ok: KH1003 preemption is off (get_cpu): atomic even in a kernel thread
            if (tmp != NULL) ptr_ref<int>(tmp) = cpu;
            put_cpu();
            kfree(tmp);
            if (hp != null) scrub_highmem(hp); // ok: KH1001 kernel thread: process context, nothing held
            memset((kptr)buf, POISON_INUSE, PAGE_SIZE);
            msleep(100);
        }
        if (hp != null) __free_pages(hp, 0);
        free_page(buf);
        return 0;
    }

    public int debug_init()
    {
        kptr sh = kcalloc(Q_MAX, 8, GFP_KERNEL);
        if (sh == NULL)
            return -ENOMEM; // ok: KH3004 sh is NULL and nothing else is allocated yet
        kptr tr = kmem_cache_alloc(metacache, GFP_KERNEL | __GFP_NOFAIL); // ok: KH1004 __GFP_NOFAIL with GFP_KERNEL, which may block: valid
        if (tr == NULL) goto err_shadow;
        page? hp = alloc_page(GFP_HIGHUSER | __GFP_ZERO);
        if (hp == null)
        {
            kfree(sh);
            goto err_track;
        }
        shadow = sh;
        track = tr;
        scrub_page = hp;
        scrubber = kthread_run(scrubber_fn, this, "slab-scrub");
        mod_timer(scan_timer, jiffies + HZ);
        return 0;
    err_track:
        kmem_cache_free(metacache, tr); // ok: KH3003 tr is freed once, only on this ladder step
    err_shadow:
        kfree(sh); // expect: KH3003 (on the hp == null path sh was already freed before goto err_track)
        return -ENOMEM; // ok: KH3004 every allocation of this function is freed on the ladder above
    }

    public int selftest_free_paths()
    {
        kptr big = vmalloc(8 * PAGE_SIZE);
        if (big == NULL)
            return -ENOMEM;
        kptr small = kmalloc(64, GFP_KERNEL);
        if (small == NULL)
        {
            vfree(big);
            return -ENOMEM; // ok: KH3004 big was freed just above and small is NULL
        }
        poison_object(big, 8 * PAGE_SIZE);
        memset(small, 0, 64);
        kfree(big); // expect: KH3001 (big came from vmalloc)
        vfree(small); // expect: KH3001 (small came from kmalloc)
        kptr obj = kmem_cache_alloc(objcache, GFP_KERNEL);
        if (obj == NULL)
            return -ENOMEM;
        memset(obj, 0, objcache.object_size);
        kfree(obj); // expect: KH3001 (obj came from kmem_cache_alloc(objcache); kmem_cache_free is the matching free)
        return 0;
    }

    public int selftest_reuse()
    {
        kptr a = kmalloc(128, GFP_KERNEL);
        if (a == NULL)
            return -ENOMEM;
        kptr b = krealloc(a, 256, GFP_KERNEL);
        if (b == NULL)
        {
            kfree(a);
            return -ENOMEM;
        }
        kfree(b); // ok: KH3001 kfree of krealloc memory
        b = kmalloc(512, GFP_NOWAIT | __GFP_NOWARN); // ok: KH1004 no-block flags without __GFP_NOFAIL: a valid combination
        if (b == NULL)
            return -ENOMEM;
        memset(b, 0, 512);
        kfree(b); // ok: KH3003 b was reassigned to a new allocation after the previous kfree(b)
        b = NULL;
        kfree(b); // ok: KH3003 b was set to NULL after the previous free: kfree(NULL) is a no-op
        kptr v = vzalloc(4 * PAGE_SIZE);
        if (v == NULL)
            return -ENOMEM;
        kvfree(v); // ok: KH3001 kvfree takes vmalloc memory too
        kptr k = kmalloc(64, GFP_KERNEL);
        if (k == NULL)
            return -ENOMEM;
        kvfree(k); // ok: KH3001 kvfree takes kmalloc memory too
        ulong pages = __get_free_pages(GFP_KERNEL, 1);
        if (pages == 0)
            return -ENOMEM;
        free_pages(pages, get_order(2 * PAGE_SIZE)); // ok: KH3001 the order is computed, not a constant (and it is 1)
        return 0;
    }

    public int selftest_poison(int rounds)
    {
        for (int i = 0; i < rounds; i++)
        {
            kptr p = kmalloc(64, GFP_KERNEL);
            if (p == NULL)
                return -ENOMEM;
            poison_object(p, 64);
            if (!check_poison(p, 64))
            {
                kfree(p); // ok: KH3003 this branch returns: disjoint from the kfree(p) below
                return -EIO;
            }
            kfree(p); // ok: KH3003 each iteration frees its own new allocation once
        }
        return 0;
    }

    public int selftest_tables(int nr)
    {
        kptr t = kcalloc((ulong)nr, 8, GFP_KERNEL);
        if (t == NULL)
            return -ENOMEM;
        kptr alias = t;
        if (ptr_ref<ulong>(t) != 0)
        {
            kfree(t);
            return -EIO;
        }
        kfree(alias);
        kfree(t); // expect: KH3003 (t was already freed through its alias)
        return 0;
    }

    public void shutdown()
    {
        del_timer_sync(scan_timer);
        cancel_work_sync(shrink_work);
        if (scrubber != null) kthread_stop(scrubber);
    }
}
