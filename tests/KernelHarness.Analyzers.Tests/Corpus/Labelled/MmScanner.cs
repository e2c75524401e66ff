// An address-space sampler: kernel threads and work items that report VM usage, and an ioctl-side attach that
// pins a user mm for them. Holds init_mm used as the kernel-thread test and current.mm dereferenced from kernel
// threads and work items (directly, through helpers, a lambda and a delegate field), plus slab/kmalloc mistakes.
using System;
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.MmScanner;

public struct mm_sample
{
    public ulong total_vm;
    public int map_count;
    public ulong brk;
    public ulong stamp;
}

public sealed class MmScanner
{
    private const ulong REPORT_SIZE = 64;
    private const ulong HIST_BUCKETS = 16;

    private readonly work_struct stats_work = new();
    private readonly work_struct trim_work = new();
    private readonly work_struct audit_work = new();
    private readonly work_struct safe_work = new();
    private readonly mutex scan_lock = new();
    private readonly Func<object?, int> reaper_fn;
    private task_struct? scanner;
    private task_struct? reaper;
    private task_struct? watcher;
    private task_struct? sizer;
    private mm_struct? target_mm;
    private kmem_cache? sample_cache;
    private kptr hist;
    private uint period;
    private ulong last_total;
    private int last_maps;
    private ulong last_heap;
    private ulong pages_seen;
    private bool lazy_seen;

    public MmScanner()
    {
        reaper_fn = reaper_thread;
    }

    public int start(uint period_ms)
    {
        var h = kcalloc(HIST_BUCKETS, 8, GFP_KERNEL);
        if (h == NULL)
            return -ENOMEM; // ok: KH3004 (h is NULL on this path)
        if (period_ms == 0 || period_ms > 10000)
            return -EINVAL; // expect: KH3004 (the kcalloc'd histogram h is neither freed nor stored when the period is rejected)
        hist = h;
        sample_cache = kmem_cache_create("mm_sample", 32, 8, SLAB_HWCACHE_ALIGN, null);
        if (sample_cache == null)
            return -ENOMEM; // ok: KH3004 (h was handed to the hist field before this failure)
        period = period_ms;
        INIT_WORK(stats_work, stats_work_fn);
        INIT_WORK(trim_work, w => trim_report());
        INIT_WORK(audit_work, audit_work_fn);
        INIT_WORK(safe_work, safe_work_fn);
        scanner = kthread_run(scan_thread, this, "mmscan");
        reaper = kthread_run(reaper_fn, this, "mmreap");
        watcher = kthread_run(watch_saved_mm, this, "mmwatch");
        sizer = kthread_run(data =>
        {
            while (!kthread_should_stop())
            {
                pages_seen = current.mm.task_size >> PAGE_SHIFT; // expect: KH6002 (kthread_run lambda: a kernel thread's current.mm is NULL)
                msleep(period);
            }
            return 0;
        }, null, "mmsize");
        return 0;
    }

    // ioctl path: runs in the calling user task.
    public int attach()
    {
        if (current.mm == null) // ok: KH6001 (the correct test for "no user address space")
            return -EINVAL;
        last_total = current.mm.total_vm; // ok: KH6002 (attach() is an ioctl path, not reachable from a kernel thread, and tests current.mm == null)
        mmget(current.mm);
        mutex_lock(scan_lock);
        target_mm = current.mm;
        mutex_unlock(scan_lock);
        schedule_work(safe_work);
        return 0;
    }

    public void detach()
    {
        mutex_lock(scan_lock);
        var mm = target_mm;
        target_mm = null;
        mutex_unlock(scan_lock);
        if (mm != null)
            mmput(mm);
    }

    // ioctl path only.
    public ulong caller_vm()
    {
        return current.mm.total_vm; // ok: KH6002 (only called from the ioctl side, never from a kernel thread or work item)
    }

    public bool caller_is_user() => current.mm != init_mm; // expect: KH6001 (always true: no task's mm is init_mm; test current.mm != null)

    public ulong report() => current.mm != null ? mm_summary() : 0; // ok: KH6001 (a null test, not an init_mm comparison)

    private ulong mm_summary()
    {
        ulong vm = current.mm.total_vm; // expect: KH6002 (mm_summary() is also reached from stats_work_fn, a work item, and never tests current.mm)
        return vm << PAGE_SHIFT;
    }

    private static bool is_kernel_space(mm_struct mm) => mm == init_mm; // ok: KH6001 (compares an mm being walked, not a task's mm: kernel page tables belong to init_mm)

    private int count_vmas(mm_struct mm)
    {
        if (is_kernel_space(mm))
            return 0;
        int n = 0;
        mmap_read_lock(mm);
        for (var vma = find_vma(mm, 0); vma != null; vma = find_vma(mm, vma.vm_end))
            n++;
        mmap_read_unlock(mm);
        return n;
    }

    private void stats_work_fn(work_struct w)
    {
        last_maps = current.mm.map_count; // expect: KH6002 (work items run in a kworker whose mm is NULL)
        last_total = mm_summary();
        var s = kmem_cache_alloc(sample_cache!, GFP_KERNEL);
        if (s == NULL)
            return;
        ref var rec = ref ptr_ref<mm_sample>(s); // ok: KH3002 (checked by the early return above)
        rec.map_count = last_maps;
        rec.total_vm = last_total;
        rec.stamp = jiffies;
        if (hist != NULL)
            ptr_ref<mm_sample>(hist) = rec;
        kfree(s); // expect: KH3001 (s comes from kmem_cache_alloc(sample_cache), freed with kfree)
    }

    private void trim_report()
    {
        ulong heap = current.mm.brk; // expect: KH6002 (reached from the trim_work lambda; no null test)
        last_heap = heap;
    }

    private void audit_work_fn(work_struct w)
    {
        if (current.mm != init_mm) // expect: KH6001 (a kworker's mm is NULL, which is != init_mm, so the test passes)
        {
            last_total = current.mm.total_vm; // expect: KH6002 (the init_mm comparison is not a null check)
        }
        lazy_seen = current.active_mm == init_mm; // ok: KH6001 (active_mm may legitimately be init_mm for a lazy-TLB kernel thread)
    }

    private void safe_work_fn(work_struct w)
    {
        if (current.mm == null) // ok: KH6001 (the correct kernel-thread test)
        {
            pages_seen = current.active_mm!.total_vm; // ok: KH6002 (active_mm, not mm: a kernel thread runs on a borrowed active_mm)
            return;
        }
        last_maps = current.mm.map_count; // ok: KH6002 (safe_work_fn tests current.mm == null first)
    }

    private int scan_thread(object? data)
    {
        while (!kthread_should_stop())
        {
            if (init_mm == current.mm) // expect: KH6001 (operands reversed, the same never-true test)
                pr_debug("mmscan: kernel context\n");
            ulong vm = current.mm.total_vm; // expect: KH6002 (scan_thread is a kthread_run threadfn; its mm is NULL)
            collect_layout();
            emit_report(vm);
            format_report(0);
            schedule_work(stats_work);
            schedule_work(trim_work);
            schedule_work(audit_work);
            msleep(period);
        }
        return 0;
    }

    private void collect_layout()
    {
        last_heap = code_end();
    }

    private ulong code_end()
    {
        ulong end = current.mm.end_code; // expect: KH6002 (two calls deep from scan_thread; the function never tests current.mm)
        return end;
    }

    private void emit_report(ulong vm)
    {
        var report = kmalloc(REPORT_SIZE, GFP_KERNEL);
        ref var rec = ref ptr_ref<mm_sample>(report); // expect: KH3002 (kmalloc can return NULL; ptr_ref before any check)
        rec.total_vm = vm;
        rec.map_count = last_maps;
        rec.stamp = jiffies;
        kfree(report);
    }

    private int format_report(int kind)
    {
        var buf = kzalloc(REPORT_SIZE, GFP_KERNEL);
        if (buf == NULL)
            return -ENOMEM;
        int ret = 0;
        switch (kind)
        {
            case 0:
                ptr_ref<mm_sample>(buf).total_vm = last_total;
                break;
            case 1:
                ptr_ref<mm_sample>(buf).map_count = last_maps;
                break;
            default:
                kfree(buf);
                ret = -EINVAL;
                break;
        }
        if (ret == 0 && hist != NULL)
            memcpy(hist, buf, 32);
        kfree(buf); // expect: KH3003 (the default case already freed buf and falls out of the switch to here)
        return ret;
    }

    private int reaper_thread(object? data)
    {
        while (!kthread_should_stop())
        {
            bool user = current.mm != init_mm; // expect: KH6001 (true for kernel threads too, whose mm is NULL)
            if (user && current.mm.mm_users > 1) // expect: KH6002 (registered through the reaper_fn delegate field; a kernel thread's mm is NULL)
                pr_info("mmreap: shared address space\n");
            msleep(period * 10);
        }
        return 0;
    }

    private int watch_saved_mm(object? data)
    {
        while (!kthread_should_stop())
        {
            mutex_lock(scan_lock);
            var mm = target_mm;
            bool pinned = mm != null && mmget_not_zero(mm);
            mutex_unlock(scan_lock);
            if (pinned && mm != null)
            {
                mmap_read_lock(mm);
                last_maps = mm.map_count; // ok: KH6002 (a saved mm pinned with mmget_not_zero, not current.mm)
                mmap_read_unlock(mm);
                pages_seen = (ulong)count_vmas(mm);
                mmput(mm);
            }
            if (current.active_mm == init_mm) // ok: KH6001 (active_mm == init_mm is a valid lazy-TLB test)
                lazy_seen = true;
            ulong t = current.mm?.total_vm ?? 0; // ok: KH6002 (?. tests current.mm for null before the member read)
            last_total = t;
            msleep(period * 2);
        }
        return 0;
    }

    public void stop()
    {
        if (sizer != null)
            kthread_stop(sizer);
        if (watcher != null)
            kthread_stop(watcher);
        if (reaper != null)
            kthread_stop(reaper);
        if (scanner != null)
            kthread_stop(scanner);
        cancel_work_sync(stats_work);
        cancel_work_sync(trim_work);
        cancel_work_sync(audit_work);
        cancel_work_sync(safe_work);
        detach();
        kfree(hist);
        hist = NULL;
        kmem_cache_destroy(sample_cache);
        sample_cache = null;
        kfree(hist); // ok: KH3003 (hist was reassigned to NULL after the first free; kfree(NULL) is a no-op)
    }
}
