// Per-process ring mapper: an ioctl-style syscall maps a shared ring with do_mmap; a kernel thread and work
// items account for it and reap it. Holds init_mm used as a user-context test (KH6001) and current.mm read in
// kernel-thread and work-item code (KH6002), next to the correct forms.
using System;
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R4KRingMapper;

public sealed class RingMapper
{
    private const ulong RING_MAX_PAGES = 16;
    private const int MAX_VMAS = 4096;

    private readonly mutex map_lock = new();
    private readonly work_struct account_work = new();
    private readonly work_struct trim_work = new();
    private readonly work_struct audit_work = new();
    private readonly work_struct usage_work = new();
    private readonly wait_queue_head_t reap_wait = new();
    private readonly Action<work_struct> trim_fn;
    private readonly Func<object?, int> reaper_fn;
    private task_struct? reaper;
    private task_struct? owner;
    private mm_struct? owner_mm;
    private ulong ring_addr;
    private ulong ring_len;
    private ulong peak_vm;
    private ulong last_brk;
    private ulong lazy_vm;
    private int audited;
    private bool reap_pending;

    public RingMapper()
    {
        trim_fn = trim_worker;
        reaper_fn = reaper_thread;
    }

    public int start()
    {
        INIT_WORK(account_work, account_worker);
        INIT_WORK(trim_work, trim_fn);
        INIT_WORK(audit_work, w =>
        {
            if (current.mm!.map_count > MAX_VMAS) // expect: KH6002 (work-item lambda reads current.mm and never tests it against null)
                pr_warn("ringmap: too many vmas\n");
            audited++;
        });
        init_usage();
        reaper = kthread_run(reaper_fn, this, "ring_reaper");
        return 0;
    }

    private void init_usage()
    {
        INIT_WORK(usage_work, w =>
        {
            if (current.mm is null) // ok: KH6001 does not apply, the right user-context test
                return;
            lazy_vm = current.mm.total_vm; // ok: KH6002 does not apply, the lambda tests current.mm against null first
        });
    }

    public void stop()
    {
        if (reaper != null)
            kthread_stop(reaper);
        cancel_work_sync(account_work);
        cancel_work_sync(trim_work);
        cancel_work_sync(audit_work);
        cancel_work_sync(usage_work);
    }

    // Called from the device's ioctl on behalf of a user task (process context, unknown callers).
    public long sys_ring_map(ulong len)
    {
        if (current.mm == init_mm) // expect: KH6001 (no task's mm is ever init_mm; the test is current.mm == null)
            return -EINVAL;
        ulong total = PAGE_ALIGN(len);
        if (total == 0 || total > RING_MAX_PAGES * PAGE_SIZE)
            return -EINVAL;
        mm_struct mm = current.mm!;
        mutex_lock(map_lock);
        if (ring_addr != 0)
        {
            mutex_unlock(map_lock);
            return -EBUSY;
        }
        mmap_write_lock(mm);
        ulong addr = do_mmap(null, 0, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, 0);
        mmap_write_unlock(mm);
        if (IS_ERR_VALUE(addr))
        {
            mutex_unlock(map_lock);
            return (long)addr;
        }
        ring_addr = addr;
        ring_len = total;
        owner = current;
        mmget(mm);
        owner_mm = mm;
        peak_vm = Math.Max(peak_vm, current.mm!.total_vm); // ok: KH6002 does not apply, a syscall path no kernel thread or work item reaches
        mutex_unlock(map_lock);
        schedule_work(account_work);
        schedule_work(audit_work);
        return (long)addr;
    }

    public int sys_ring_unmap()
    {
        if (current.mm == null) // ok: KH6001 does not apply, the correct user-context test
            return -EINVAL;
        mutex_lock(map_lock);
        if (ring_addr == 0 || owner_mm != current.mm) // ok: KH6001 does not apply, compares two address spaces, not init_mm
        {
            mutex_unlock(map_lock);
            return -ENOENT;
        }
        mm_struct mm = current.mm;
        mmap_write_lock(mm);
        var vma = vma_lookup(mm, ring_addr);
        int err = vma == null ? -ENOENT : do_munmap(mm, ring_addr, ring_len);
        mmap_write_unlock(mm);
        if (err == 0)
        {
            ring_addr = 0;
            ring_len = 0;
            owner_mm = null;
            owner = null;
            mmput(mm);
        }
        mutex_unlock(map_lock);
        schedule_work(trim_work);
        return err;
    }

    private static bool is_user_caller()
    {
        return current.mm != init_mm; // expect: KH6001 (always true: kernel threads have mm == null, not init_mm)
    }

    public int sys_ring_stats(ulong uaddr)
    {
        if (!is_user_caller())
            return -EPERM;
        ulong pages = ring_usage_pages();
        schedule_work(usage_work);
        return put_user(pages, uaddr);
    }

    public long sys_ring_query(ulong addr)
    {
        var mm = current.mm;
        if (mm == init_mm) // expect: KH6001 (a local that only holds current.mm compared with init_mm)
            return -EPERM;
        ulong stack_top = caller_stack_top();
        if (addr >= stack_top)
            return -EINVAL;
        mmap_read_lock(mm!);
        var vma = vma_lookup(mm!, addr);
        long flags = vma == null ? -ENOENT : (long)vma.vm_flags;
        mmap_read_unlock(mm!);
        return flags;
    }

    private static ulong caller_stack_top()
    {
        return current.mm!.start_stack; // ok: KH6002 does not apply, only reached from sys_ring_query (a syscall path)
    }

    private ulong ring_usage_pages()
    {
        return current.mm!.total_vm - (ring_len >> PAGE_SHIFT); // expect: KH6002 (also reached from reaper_thread, a kernel thread; no null test here)
    }

    private void account_worker(work_struct work)
    {
        mutex_lock(map_lock);
        peak_vm = Math.Max(peak_vm, current.mm!.total_vm); // expect: KH6002 (work item registered by method group reads current.mm)
        mutex_unlock(map_lock);
    }

    private void trim_worker(work_struct work)
    {
        note_brk();
        mutex_lock(map_lock);
        reap_pending = owner_mm != null;
        mutex_unlock(map_lock);
        wake_up(reap_wait);
    }

    private void note_brk()
    {
        last_brk = current.mm!.brk; // expect: KH6002 (helper of trim_worker, a work item registered through the trim_fn field)
    }

    private int reaper_thread(object? data)
    {
        while (!kthread_should_stop())
        {
            wait_event_interruptible_timeout(reap_wait, () => reap_pending || kthread_should_stop(), (long)HZ);
            if (current.mm != init_mm) // expect: KH6001 (a kernel thread's mm is null, never init_mm)
                lazy_vm = current.mm!.total_vm; // expect: KH6002 (kernel thread reads current.mm; the function never tests it against null)
            note_lazy_mm();
            if (reap_pending && ring_usage_pages() > RING_MAX_PAGES)
                reap_one();
        }
        return 0;
    }

    private void note_lazy_mm()
    {
        if (current.active_mm == init_mm) // ok: KH6001 does not apply, active_mm may legitimately be init_mm for a lazy-TLB kernel thread
            return;
        if (current.mm == null) // ok: KH6001 does not apply, the correct test
        {
            lazy_vm = current.active_mm?.total_vm ?? 0; // ok: KH6002 does not apply, active_mm is what a kernel thread borrows
            return;
        }
        lazy_vm = current.mm.total_vm; // ok: KH6002 does not apply, this function tests current.mm against null
    }

    // A page-table walker helper: asks whether it is walking the kernel's own tables.
    private static bool walks_kernel_tables(mm_struct mm) => mm == init_mm; // ok: KH6001 does not apply, an mm_struct parameter compared with init_mm

    private void reap_one()
    {
        mutex_lock(map_lock);
        reap_pending = false;
        var mm = owner_mm;
        var task = owner;
        if (mm == null || task == null || walks_kernel_tables(mm))
        {
            mutex_unlock(map_lock);
            return;
        }
        if (task.mm == init_mm) // expect: KH6001 (another task's mm compared with init_mm; an exited task has mm == null)
        {
            mmap_write_lock(mm);
            do_munmap(mm, ring_addr, ring_len);
            mmap_write_unlock(mm);
            ring_addr = 0;
            ring_len = 0;
            owner_mm = null;
            owner = null;
            mmput(mm);
        }
        else if (mm.map_count > MAX_VMAS) // ok: KH6002 does not apply, the owner's mm pinned with mmget, not current.mm
        {
            pr_warn("ringmap: owner has too many mappings\n");
        }
        mutex_unlock(map_lock);
    }
}
