// RAM block device (request ring, completion IRQ, dispatch work, bounce page). Mistakes: sleeping helpers and GFP_NOIO in atomic
// paths, irqsave lock released with spin_unlock, lock/kmap_atomic/irqs kept on early returns, inverted down_trylock, bad GFP zones.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.RamBlkQueue;

public struct blk_req {
    public ulong sector;
    public uint nr_sectors;
    public int write;
    public int status;
}

public sealed class RamBlk {
    private const int QUEUE_DEPTH = 32;
    private const ulong SECTOR_SIZE = 512;

    private readonly spinlock_t queue_lock = new();
    private readonly spinlock_t stats_lock = new();
    private readonly mutex ctl_lock = new();
    private readonly work_struct dispatch_work = new();
    private readonly timer_list watchdog = new();
    private readonly completion flush_done = new();
    private readonly semaphore flush_sem = new(1);
    private readonly kptr[] ring = new kptr[QUEUE_DEPTH];
    private kmem_cache? req_cache;
    private page? bounce_page;
    private kptr disk = NULL;
    private kptr spare_desc = NULL;
    private ulong capacity_sectors;
    private ulong last_completion;
    private int head, tail, queued;
    private long completed, errors, stuck_ticks, flushes;
    private uint irq;
    private int doorbell_reg;
    private bool dying, media_ready = true;

    public int probe(uint irq_line, ulong sectors) {
        int err = -ENOMEM;
        irq = irq_line;
        capacity_sectors = sectors;
        req_cache = kmem_cache_create("ramblk_req", 64, 8, SLAB_HWCACHE_ALIGN, null);
        if (req_cache is null)
            return -ENOMEM;
        disk = vzalloc(sectors * SECTOR_SIZE);
        if (disk == NULL)
            goto err_cache;
        bounce_page = alloc_pages(GFP_KERNEL | __GFP_DMA, 0); // ok: a single zone modifier through the page allocator is valid
        if (bounce_page is null)
            goto err_disk;
        INIT_WORK(dispatch_work, dispatch_fn);
        timer_setup(watchdog, watchdog_fn, 0);
        err = request_irq(irq, blk_complete_isr, IRQF_TRIGGER_RISING, "ramblk", this); // ok: probe runs in process context with nothing held
        if (err != 0)
            goto err_page;
        last_completion = jiffies;
        mod_timer(watchdog, jiffies + HZ);
        return 0;

    err_page:
        __free_pages(bounce_page, 0);
        bounce_page = null;
    err_disk:
        vfree(disk);
        disk = NULL;
    err_cache:
        kmem_cache_destroy(req_cache);
        req_cache = null;
        return err;
    }

    // Called by the upper layer with nothing held. The descriptor is allocated under the queue lock.
    public int submit_bio(ulong sector, uint nr_sectors, int write) {
        if (req_cache is null || sector + nr_sectors > capacity_sectors)
            return -EINVAL;
        spin_lock_irqsave(queue_lock, out var flags);
        var rq = kmem_cache_alloc(req_cache, GFP_NOIO); // expect: KH1002 (GFP_NOIO can block, queue_lock is held with irqs off)
        if (rq == NULL) {
            spin_unlock_irqrestore(queue_lock, flags);
            return -ENOMEM;
        }
        if (queued == QUEUE_DEPTH) {
            spin_unlock_irqrestore(queue_lock, flags);
            kmem_cache_free(req_cache, rq);
            return -EBUSY;
        }
        fill_req(rq, sector, nr_sectors, write);
        ring[tail] = rq;
        tail = (tail + 1) % QUEUE_DEPTH;
        queued++;
        schedule_work(dispatch_work); // ok: schedule_work only queues, it does not sleep
        spin_unlock_irqrestore(queue_lock, flags);
        return 0;
    }

    // The corrected twin: allocate before taking the lock, free after dropping it.
    public int submit_bio_prealloc(ulong sector, uint nr_sectors, int write) {
        if (req_cache is null || sector + nr_sectors > capacity_sectors)
            return -EINVAL;
        var rq = kmem_cache_alloc(req_cache, GFP_NOIO); // ok: allocated before the queue lock is taken
        if (rq == NULL)
            return -ENOMEM;
        fill_req(rq, sector, nr_sectors, write);
        spin_lock_irqsave(queue_lock, out var flags);
        if (queued == QUEUE_DEPTH) {
            spin_unlock_irqrestore(queue_lock, flags); // ok: matching irqrestore on the early path
            kmem_cache_free(req_cache, rq);
            return -EBUSY;
        }
        ring[tail] = rq;
        tail = (tail + 1) % QUEUE_DEPTH;
        queued++;
        spin_unlock_irqrestore(queue_lock, flags);
        schedule_work(dispatch_work);
        return 0;
    }

    // Exported for the upper layer, whose calling context this driver does not know.
    public kptr alloc_req_nowait() {
        if (req_cache is null)
            return NULL;
        return kmem_cache_zalloc(req_cache, GFP_ATOMIC); // ok: public method with unknown callers, KH1003 must stay silent
    }

    private static void fill_req(kptr rq, ulong sector, uint nr_sectors, int write) {
        ref var r = ref ptr_ref<blk_req>(rq);
        r.sector = sector;
        r.nr_sectors = nr_sectors;
        r.write = write;
        r.status = 0;
    }

    // Work item: process context. Pops one request per locked iteration.
    private void dispatch_fn(work_struct w) {
        var sg = kcalloc(QUEUE_DEPTH, 16, GFP_ATOMIC); // expect: KH1003 (work item, nothing held: GFP_KERNEL would do)
        if (sg == NULL)
            return;
        while (true) {
            spin_lock_irq(queue_lock); // ok: released with spin_unlock_irq on both paths of the iteration
            if (queued == 0) {
                spin_unlock_irq(queue_lock);
                break;
            }
            var rq = ring[head];
            ring[head] = NULL;
            head = (head + 1) % QUEUE_DEPTH;
            queued--;
            spin_unlock_irq(queue_lock);

            mutex_lock(ctl_lock); // ok: the queue lock was dropped before this sleeping lock
            int status = transfer(rq);
            mutex_unlock(ctl_lock);
            ptr_ref<blk_req>(rq).status = status;
            cond_resched(); // ok: nothing held between iterations
        }
        kfree(sg);
    }

    private int transfer(kptr rq) {
        ref var r = ref ptr_ref<blk_req>(rq);
        ulong off = r.sector * SECTOR_SIZE;
        ulong len = r.nr_sectors * SECTOR_SIZE;
        var buf = kmalloc(len, GFP_KERNEL); // ok: reached only from the work item with no spinlock held
        if (buf == NULL)
            return -ENOMEM;
        if (r.write != 0)
            memcpy(disk + off, buf, len);
        else
            memcpy(buf, disk + off, len);
        kfree(buf);
        return 0;
    }

    // Hard-IRQ context: the device signals that a request finished.
    private irqreturn_t blk_complete_isr(int irq_no, object? dev_id) {
        if (dev_id is not RamBlk dev || dev.dying)
            return IRQ_NONE;
        spin_lock(queue_lock); // ok: interrupts are already off in a hard-IRQ handler, plain spin_lock is enough
        completed++;
        last_completion = jiffies;
        spin_unlock(queue_lock); // ok: matches the plain spin_lock above
        account_completion(); // expect: KH1001 (helper takes ctl_lock, a mutex, from hard-IRQ context)
        if (spare_desc == NULL)
            refill_spare(); // expect: KH1001 (helper allocates with GFP_KERNEL, which may sleep, from hard-IRQ context)
        mdelay(1); // ok: busy wait, allowed in hard-IRQ context
        complete(flush_done); // ok: complete() does not sleep
        return IRQ_HANDLED;
    }

    private void account_completion() {
        mutex_lock(ctl_lock);
        if (completed % 1024 == 0)
            pr_info("ramblk: 1024 more requests completed\n");
        mutex_unlock(ctl_lock);
    }

    private void refill_spare() {
        var d = kzalloc(64, GFP_KERNEL);
        if (d != NULL)
            spare_desc = d;
    }

    // Timer callback: softirq context.
    private void watchdog_fn(timer_list t) {
        spin_lock_irqsave(queue_lock, out var flags);
        if (queued > 0 && time_after(jiffies, last_completion + 5 * HZ))
            stuck_ticks++;
        spin_unlock(queue_lock); // expect: KH2004 (spin_lock_irqsave released with spin_unlock: irqs stay off)
        mod_timer(watchdog, jiffies + HZ);
    }

    public int snapshot_stats(out long done, out long failed) {
        done = 0;
        failed = 0;
        spin_lock(stats_lock); // expect: KH2003 (stats_lock still held on the -ENODEV return)
        if (dying)
            return -ENODEV;
        done = completed;
        failed = errors;
        spin_unlock(stats_lock);
        return 0;
    }

    public int read_sector_atomic(ulong sector, kptr dst) {
        var pg = bounce_page;
        if (pg is null)
            return -ENODEV;
        var vaddr = kmap_atomic(pg); // expect: KH2003 (atomic kmap not undone on the -EINVAL return)
        if (sector >= capacity_sectors)
            return -EINVAL;
        memcpy(dst, vaddr, SECTOR_SIZE);
        kunmap_atomic(vaddr);
        return 0;
    }

    public int write_sector_atomic(ulong sector, kptr src) {
        int err = 0;
        var pg = bounce_page;
        if (pg is null)
            return -ENODEV;
        var vaddr = kmap_atomic(pg); // ok: every path reaches kunmap_atomic through the out label
        if (sector >= capacity_sectors) {
            err = -EINVAL;
            goto out_unmap;
        }
        memcpy(vaddr, src, SECTOR_SIZE);
        udelay(10); // ok: busy wait inside an atomic kmap
    out_unmap:
        kunmap_atomic(vaddr);
        return err;
    }

    // Process context, under the control mutex (a sleeping lock: blocking allocations are fine).
    public int resize(ulong sectors) {
        mutex_lock(ctl_lock);
        ulong table = __get_free_pages(GFP_KERNEL | __GFP_DMA | __GFP_DMA32, 1); // expect: KH1004 (two zone modifiers: __GFP_DMA with __GFP_DMA32)
        if (table == 0) {
            mutex_unlock(ctl_lock);
            return -ENOMEM;
        }
        var hdr = kmalloc(128, GFP_KERNEL | __GFP_HIGHMEM); // expect: KH1004 (__GFP_HIGHMEM passed to kmalloc)
        if (hdr == NULL) {
            free_pages(table, 1);
            mutex_unlock(ctl_lock);
            return -ENOMEM;
        }
        var meta = kmalloc(128, GFP_KERNEL | __GFP_DMA); // ok: __GFP_DMA alone is a valid kmalloc zone (dma kmalloc caches)
        if (meta != NULL)
            kfree(meta);
        capacity_sectors = sectors;
        kfree(hdr);
        free_pages(table, 1);
        mutex_unlock(ctl_lock);
        return 0;
    }

    public int try_flush_cache() {
        if (down_trylock(flush_sem) != 0) { // expect: KH2003 (down_trylock returns 0 when it took flush_sem; that path returns -EBUSY still holding it)
            flushes++;
            up(flush_sem); // expect: KH2003 (on this path down_trylock failed: flush_sem is not held)
            return 0;
        }
        return -EBUSY;
    }

    public int flush_cache_if_idle() {
        if (down_trylock(flush_sem) == 0) { // ok: balanced, up() on the path where it was taken
            flushes++;
            up(flush_sem);
            return 0;
        }
        return -EBUSY;
    }

    public int kick_hw_queue(int idx) {
        local_irq_save(out var flags); // expect: KH2002 (interrupts left disabled on the -EINVAL return)
        if (idx < 0 || idx >= QUEUE_DEPTH)
            return -EINVAL;
        doorbell_reg = idx;
        udelay(2);
        local_irq_restore(flags);
        return 0;
    }

    public void retrain_media() {
        local_irq_save(out var flags);
        media_ready = false;
        local_irq_enable(); // expect: KH2002 (local_irq_enable inside a local_irq_save region)
        udelay(20);
        media_ready = true;
        local_irq_restore(flags);
    }

    public void remove() {
        spin_lock_irqsave(queue_lock, out var flags);
        dying = true;
        del_timer_sync(watchdog); // expect: KH1001 (del_timer_sync waits for the callback, queue_lock is held)
        spin_unlock_irqrestore(queue_lock, flags);
        free_irq(irq, this); // ok: called after the queue lock was dropped
        cancel_work_sync(dispatch_work);
        wait_for_completion_timeout(flush_done, HZ);
        if (bounce_page is not null)
            __free_pages(bounce_page, 0);
        bounce_page = null;
        vfree(disk); // ok: process context with nothing held
        disk = NULL;
        kfree(spare_desc);
        spare_desc = NULL;
        kmem_cache_destroy(req_cache);
        req_cache = null;
    }
}
