// Frame grabber: order-3 frame pages, a zeroed thumbnail page, buffer-head and request slab caches, a capture kthread
// and vsync/DMA/sensor/i2c interrupts; page orders and caches mixed up, zone-modifier clashes, dev_id slips, raw jiffies.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R2GFrameGrabber;

public struct buf_head { public ulong pfn; public uint bytes; }

public struct cap_req { public uint frame; public uint flags; }

public sealed class fg_sensor { public uint status; public uint exposure; }

public sealed class FrameGrabber
{
    private const int FRAME_ORDER = 3;
    private const ulong LEGACY_FLAGS = IRQF_SHARED | IRQF_TRIGGER_LOW;
    private readonly fg_sensor sensor = new();
    private readonly spinlock_t frame_lock = new();
    private readonly timer_list frame_timer = new();
    private readonly work_struct recover_work = new();
    private static readonly percpu<long> vsyncs = DEFINE_PER_CPU<long>();
    private static readonly percpu<long> done_hits = DEFINE_PER_CPU<long>();
    private kmem_cache? bh_cache, req_cache;
    private page? frame_pages, reserve;
    private ulong thumb_addr;
    private task_struct? capture_task;
    private uint vsync_irq, dma_irq, sensor_irq, i2c_irq, legacy_irq, done_irq, aux_irq;
    private uint dma_status;
    private ulong frame_due, last_frame;
    private int frames;

    public int init()
    {
        bh_cache = kmem_cache_create("fg_bh", 16, 8, SLAB_HWCACHE_ALIGN, null);
        req_cache = kmem_cache_create("fg_req", 8, 8, SLAB_HWCACHE_ALIGN, null);
        if (bh_cache is null || req_cache is null)
        {
            kmem_cache_destroy(bh_cache);
            kmem_cache_destroy(req_cache);
            return -ENOMEM;
        }
        timer_setup(frame_timer, frame_timeout, 0);
        INIT_WORK(recover_work, w => recover());
        return 0;
    }

    private static page? grab_frame_pages(gfp_t gfp) => alloc_pages(gfp, FRAME_ORDER);

    public int start(uint vsync, uint dma, uint sensor_line)
    {
        vsync_irq = vsync;
        dma_irq = dma;
        sensor_irq = sensor_line;
        var pg = grab_frame_pages(GFP_KERNEL | __GFP_ZERO);
        if (pg == null)
            return -ENOMEM; // ok: KH3004 (pg is NULL on this path)
        ulong thumb = get_zeroed_page(GFP_KERNEL);
        if (thumb == 0)
        {
            __free_pages(pg, FRAME_ORDER); // ok: KH3001 (same order as alloc_pages in grab_frame_pages)
            return -ENOMEM;
        }
        int err = request_irq(vsync_irq, vsync_isr, IRQF_SHARED | IRQF_TRIGGER_RISING, "fg-vsync", this); // expect: KH4004 (vsync_isr returns IRQ_HANDLED on every path and reads no device state)
        if (err != 0)
        {
            free_page(thumb); // ok: KH3001 (order-0 page from get_zeroed_page freed with free_page)
            return err; // expect: KH3004 (pg from grab_frame_pages() is neither freed nor stored)
        }
        err = request_threaded_irq(dma_irq, dma_hardirq, dma_thread, IRQF_SHARED | IRQF_ONESHOT, "fg-dma", this); // ok: KH4001, KH4004 (dev_id this; dma_hardirq tests fg.dma_status)
        if (err != 0)
        {
            free_irq(vsync_irq, this); // ok: KH4002 (vsync_irq was requested with this)
            __free_pages(pg, FRAME_ORDER);
            free_page(thumb);
            return err; // ok: KH3004 (both allocations freed before the errno return)
        }
        frame_pages = pg;
        thumb_addr = thumb;
        err = request_irq(sensor_irq, sensor_isr, IRQF_SHARED, "fg-sensor", sensor); // ok: KH4001, KH4004 (dev_id sensor; sensor_isr reads its status)
        if (err != 0)
            return err; // ok: KH3004 (both allocations were handed to fields frame_pages and thumb_addr)
        capture_task = kthread_run(capture_thread, this, "fg-capture"); // ok: KH9001 (kernel threads through kthread_run are the kernel API)
        return 0;
    }

    public int attach_i2c(uint line)
    {
        i2c_irq = line;
        return request_irq(i2c_irq, (irq, dev) => IRQ_HANDLED, IRQF_SHARED, "fg-i2c", null); // expect: KH4001, KH4004 (shared with null dev_id; the lambda claims every interrupt)
    }

    public int attach_legacy(uint line)
    {
        legacy_irq = line;
        return request_irq(legacy_irq, legacy_isr, LEGACY_FLAGS, "fg-legacy", null); // expect: KH4001 (constant LEGACY_FLAGS contains IRQF_SHARED; dev_id is null)
    }

    public int attach_aux(uint line)
    {
        aux_irq = line;
        return request_threaded_irq(aux_irq, legacy_isr, dma_thread, IRQF_SHARED | IRQF_ONESHOT, "fg-aux", null); // expect: KH4001 (shared threaded IRQ with a null dev_id)
    }

    public int attach_done(uint line)
    {
        done_irq = line;
        irq_handler_t h = frame_done_isr;
        return request_irq(done_irq, h, IRQF_SHARED, "fg-done", this); // expect: KH4004 (local h holds frame_done_isr, which claims every interrupt without reading device state)
    }

    private static irqreturn_t vsync_isr(int irq, object? dev_id) { this_cpu_inc(vsyncs); return IRQ_HANDLED; }

    private static irqreturn_t frame_done_isr(int irq, object? dev_id) { this_cpu_inc(done_hits); return IRQ_HANDLED; }

    private irqreturn_t legacy_isr(int irq, object? dev_id)
    {
        if (sensor.status == 0)
            return IRQ_NONE;
        sensor.status = 0;
        return IRQ_HANDLED;
    }

    private static irqreturn_t sensor_isr(int irq, object? dev_id)
    {
        if (dev_id is not fg_sensor s || (s.status & 1) == 0)
            return IRQ_NONE;
        s.status &= ~1u;
        return IRQ_HANDLED;
    }

    private static irqreturn_t dma_hardirq(int irq, object? dev_id) =>
        dev_id is FrameGrabber fg && fg.dma_status != 0 ? IRQ_WAKE_THREAD : IRQ_NONE;

    // Process context (thread_fn).
    private irqreturn_t dma_thread(int irq, object? dev_id)
    {
        spin_lock_irq(frame_lock);
        int st = (int)dma_status;
        dma_status = 0;
        spin_unlock_irq(frame_lock);
        last_frame = jiffies;
        finish_frame(st);
        return IRQ_HANDLED;
    }

    private int finish_frame(int status)
    {
        var bh = kmem_cache_zalloc(bh_cache!, GFP_KERNEL);
        if (bh == NULL)
            return -ENOMEM;
        if (status < 0)
        {
            kmem_cache_free(bh_cache!, bh); // ok: KH3001 (bh returned to bh_cache)
            return status; // ok: KH3004 (bh freed before the errno return)
        }
        ptr_ref<buf_head>(bh).bytes = (uint)status; // ok: KH3002 (bh tested against NULL above)
        if (status > 0)
            kmem_cache_free(bh_cache!, bh);
        else
            kmem_cache_free(bh_cache!, bh); // ok: KH3003 (the two frees are on disjoint branches)
        bh = kmem_cache_alloc(bh_cache!, GFP_KERNEL | __GFP_ZERO); // ok: KH1004 (__GFP_ZERO is a valid modifier)
        if (bh == NULL)
            return -ENOMEM; // ok: KH3004 (the first object was freed and the new one is NULL)
        kmem_cache_free(bh_cache!, bh); // ok: KH3003 (bh was reassigned to a new object between the frees)
        return 0;
    }

    // Process context (kernel thread).
    private int capture_thread(object? data)
    {
        if (current.mm != init_mm) // expect: KH6001 (a kernel thread's mm is null, never init_mm: the test is always true)
            pr_warn("fg: capture thread sees a user mm\n");
        while (!kthread_should_stop())
        {
            frame_due = jiffies + msecs_to_jiffies(40);
            mod_timer(frame_timer, frame_due);
            if (capture_one() < 0)
                schedule_work(recover_work);
            if (last_frame + HZ < jiffies) // expect: KH5001 (raw < between last_frame + HZ and jiffies)
                pr_warn("fg: no frame for a second\n");
            if (expired(last_frame))
                sensor.exposure = (uint)System.Math.Clamp(sensor.exposure * 2, 1, 1000); // ok: KH9001 (System.Math is allowlisted)
            msleep(40);
        }
        return 0;
    }

    private static bool expired(ulong stamp) => jiffies - stamp > 2 * HZ; // ok: KH5001 (difference of two times compared with a duration)

    private int capture_one()
    {
        var bh = kmem_cache_alloc(bh_cache!, GFP_KERNEL);
        ptr_ref<buf_head>(bh).bytes = 0; // expect: KH3002 (bh dereferenced before the NULL check below)
        if (bh == NULL)
            return -ENOMEM;
        var req = kmem_cache_zalloc(req_cache!, GFP_KERNEL);
        if (req == NULL)
        {
            kmem_cache_free(bh_cache!, bh);
            return -ENOMEM; // ok: KH3004 (bh freed, req is NULL)
        }
        ref var r = ref ptr_ref<cap_req>(req); // ok: KH3002 (req tested against NULL above)
        r.frame = (uint)++frames;
        if (dma_status != 0)
        {
            kmem_cache_free(req_cache!, req);
            return -EBUSY; // expect: KH3004 (bh from kmem_cache_alloc leaks on this errno return)
        }
        ptr_ref<buf_head>(bh).bytes = (uint)(PAGE_SIZE << FRAME_ORDER);
        spin_lock_irq(frame_lock);
        dma_status = r.frame;
        spin_unlock_irq(frame_lock);
        kmem_cache_free(req_cache!, bh); // expect: KH3001 (bh came from bh_cache but is freed to req_cache)
        kmem_cache_free(req_cache!, req); // ok: KH3001 (req returned to its own cache)
        return 0;
    }

    public int requeue(uint frame)
    {
        var req = kmem_cache_alloc(req_cache!, GFP_KERNEL);
        if (req == NULL)
            return -ENOMEM;
        ptr_ref<cap_req>(req).frame = frame;
        if (frame % 2 == 0)
            kmem_cache_free(req_cache!, req);
        else
            kfree(req); // expect: KH3001 (req_cache object freed with kfree)
        if (dma_status == 0)
            kmem_cache_free(req_cache!, req); // expect: KH3003 (req was already freed on both branches above)
        return 0;
    }

    public int grab_still()
    {
        var pg = grab_frame_pages(GFP_KERNEL);
        if (pg == null)
            return -ENOMEM;
        var hp = alloc_pages(GFP_HIGHUSER, 0); // ok: KH1004 (highmem through the page allocator is valid)
        if (hp == null)
        {
            __free_pages(pg, FRAME_ORDER);
            return -ENOMEM;
        }
        var em = alloc_pages(GFP_KERNEL | __GFP_NOFAIL, 0); // ok: KH1004 (__GFP_NOFAIL with blocking GFP_KERNEL is valid)
        __free_pages(em!, 0); // ok: KH3001 (order 0 matches)
        __free_pages(hp, 0); // ok: KH3001 (order 0 matches)
        __free_pages(pg, 0); // expect: KH3001 (grab_frame_pages() allocates order FRAME_ORDER = 3, freed with order 0)
        return 0;
    }

    public int alloc_dma_scratch()
    {
        ulong lo = __get_free_pages(GFP_KERNEL | __GFP_DMA | __GFP_DMA32, 1); // expect: KH1004 (two zone modifiers: __GFP_DMA with __GFP_DMA32)
        if (lo == 0)
            return -ENOMEM;
        var hp = alloc_pages(GFP_HIGHUSER | __GFP_DMA, 0); // expect: KH1004 (two zone modifiers: __GFP_HIGHMEM with __GFP_DMA)
        if (hp == null)
        {
            free_pages(lo, 1); // ok: KH3001 (same constant order 1)
            return -ENOMEM;
        }
        __free_pages(hp, 0);
        free_pages(lo, 1);
        return 0;
    }

    public int make_thumb()
    {
        ulong t = __get_free_page(GFP_KERNEL);
        ptr_span((kptr)t, 64).Fill(0x10); // expect: KH3002 (__get_free_page result used before the test against 0)
        if (t == 0)
            return -ENOMEM;
        ulong copy = t;
        int rc = sensor.exposure > 500 ? -EIO : 0;
        free_page(t);
        if (rc != 0)
            free_page(copy); // expect: KH3003 (copy aliases t, which was freed above)
        return rc;
    }

    // Softirq (timer).
    private void frame_timeout(timer_list t)
    {
        if (jiffies < frame_due) // expect: KH5001 (raw < between jiffies and the jiffies-derived field frame_due)
            return;
        if (time_before_eq(jiffies, frame_due + HZ)) // ok: KH5001 (time_before_eq is wrap-safe)
            pr_info("fg: frame late\n");
        if (reserve == null)
        {
            var pg = alloc_page(GFP_ATOMIC | __GFP_NOFAIL); // expect: KH1004 (__GFP_NOFAIL with GFP_ATOMIC, which may not block)
            if (pg != null)
                reserve = pg;
        }
        ulong spare = __get_free_pages(GFP_ATOMIC | __GFP_DMA, 0); // ok: KH1004 (a single zone modifier with GFP_ATOMIC)
        if (spare != 0)
            free_pages(spare, 0); // ok: KH3001 (same constant order 0)
        schedule_work(recover_work);
    }

    private void recover()
    {
        spin_lock_irq(frame_lock);
        dma_status = 0;
        spin_unlock_irq(frame_lock);
        msleep(5);
        typeof(FrameGrabber).GetMethod("reset_sensor")?.Invoke(this, null); // expect: KH9001 (reflection is refused)
    }

    public void reset_sensor() { sensor.exposure = 0; sensor.status = 0; }

    public void kick()
    {
        System.Threading.Tasks.Task.Run(() => reset_sensor()); // expect: KH9001 (tasks outside the kernel API: use INIT_WORK/schedule_work)
        schedule_work(recover_work); // ok: KH9001 (deferred work through the kernel API)
    }

    public int fg_mmap_check()
    {
        if (init_mm == current.mm) // expect: KH6001 (init_mm compared with current.mm, operands reversed)
            return -EINVAL;
        if (current.mm != null) // ok: KH6001 (the correct user-context test)
            return 0;
        if (current.active_mm is { } amm && is_kernel_mm(amm)) // ok: KH6001 (active_mm may be init_mm for a lazy-TLB kernel thread)
            return -EPERM;
        return 0;
    }

    private static bool is_kernel_mm(mm_struct mm) => mm == init_mm; // ok: KH6001 (an mm_struct parameter compared with init_mm, as a page-table walker does)

    public void stop()
    {
        if (capture_task != null)
            kthread_stop(capture_task);
        del_timer_sync(frame_timer);
        cancel_work_sync(recover_work);
        free_irq(vsync_irq, this); // ok: KH4002 (vsync_irq was requested with this)
        free_irq(dma_irq, null); // expect: KH4002 (dma_irq was requested only with this)
        free_irq(sensor_irq, this); // expect: KH4002 (sensor_irq was requested only with sensor)
        free_irq(i2c_irq, null); // ok: KH4002 (same null dev_id as the only request of i2c_irq)
        free_irq(done_irq, this); // ok: KH4002 (done_irq was requested with this)
        if (frame_pages != null)
            __free_pages(frame_pages, FRAME_ORDER); // ok: KH3001 (frame_pages only holds order-FRAME_ORDER blocks)
        if (reserve != null) __free_pages(reserve, 0);
        free_page(thumb_addr);
        kmem_cache_destroy(req_cache);
        kmem_cache_destroy(bh_cache);
    }
}
