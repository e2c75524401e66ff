// VMA tracer a student wrote while developing the address-space assignment: records mappings, dumps them.
// Holds the sandbox escapes students reach for (KH9001) next to the allowed base library and the kernel API.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using KernelHarness;
using static KernelHarness.Kernel;
using static System.Math;
using static System.Console;
using Con = System.Console;

namespace Corpus.Labelled.R4KVmaTrace;

public struct vma_record
{
    public ulong start;
    public ulong end;
    public ulong flags;
}

public sealed class VmaTrace
{
    private const int MAX_RECORDS = 128;
    private const ulong REC_SIZE = 24;

    private readonly mutex trace_lock = new();
    private readonly object trace_sync = new();
    private readonly List<vma_record> records = new(); // ok: System.Collections.Generic is allowlisted
    private readonly Dictionary<ulong, int> hits_by_flags = new(); // ok: Dictionary is an allowlisted collection
    private readonly Queue<string> pending_lines = new(); // ok: Queue is an allowlisted collection
    private readonly work_struct flush_work = new();
    private readonly completion scanner_done = new();
    private static readonly percpu<long> traced = DEFINE_PER_CPU<long>();
    private System.IO.StreamWriter? trace_log; // expect: KH9001 (field of a file I/O type)
    private List<System.Threading.Thread>? pollers; // expect: KH9001 (refused Thread type as a generic argument of a field type)
    private task_struct? scanner; // ok: kernel thread handle from the kernel API, not System.Threading
    private Func<object?, int>? scanner_fn; // ok: Func delegate type is a core type the kernel API itself takes
    private mm_struct? target;
    private bool verbose;
    private int hits;
    private ulong last_dump;

    [System.Runtime.InteropServices.DllImport("libc")] private static extern int getpid(); // expect: KH9001 (P/Invoke extern method, one finding)

    public int init(mm_struct mm)
    {
        verbose = Environment.GetEnvironmentVariable("VMTRACE_VERBOSE") == "1"; // expect: KH9001 (Environment is refused)
        if (!mmget_not_zero(mm))
            return -EINVAL;
        target = mm;
        INIT_WORK(flush_work, flush_pending); // ok: deferred work through the kernel API
        scanner_fn = scan_thread;
        scanner = kthread_run(scanner_fn, this, "vmtrace"); // ok: kernel thread through the kernel API, not a System thread
        last_dump = jiffies; // ok: jiffies instead of DateTime
        return 0;
    }

    public void exit()
    {
        if (scanner != null)
            kthread_stop(scanner);
        wait_for_completion(scanner_done);
        cancel_work_sync(flush_work);
        if (target != null)
            mmput(target);
        target = null;
    }

    public void record_vma(vm_area_struct vma)
    {
        mutex_lock(trace_lock);
        if (records.Count < MAX_RECORDS)
            records.Add(new vma_record { start = vma.vm_start, end = vma.vm_end, flags = vma.vm_flags }); // ok: List<T>.Add on an allowlisted collection
        hits_by_flags.TryGetValue(vma.vm_flags, out int n);
        hits_by_flags[vma.vm_flags] = n + 1;
        if (verbose)
            pending_lines.Enqueue($"vma {vma.vm_start:x}-{vma.vm_end:x}"); // ok: string interpolation is ordinary text formatting
        mutex_unlock(trace_lock);
        this_cpu_inc(traced);
        lock (trace_sync) hits++; // expect: KH9001 (lock statement is System.Threading.Monitor)
    }

    private int scan_thread(object? data)
    {
        if (data is not VmaTrace) // ok: pattern on the student's own type
            return -EINVAL;
        while (!kthread_should_stop())
        {
            walk_target();
            msleep(100); // ok: kernel sleep instead of Thread.Sleep
        }
        complete(scanner_done);
        return 0;
    }

    private void walk_target()
    {
        var mm = target;
        if (mm == null)
            return;
        mmap_read_lock(mm);
        for (var vma = find_vma(mm, 0); vma != null; vma = find_vma(mm, vma.vm_end))
            record_vma(vma);
        mmap_read_unlock(mm);
    }

    private void flush_pending(work_struct work)
    {
        mutex_lock(trace_lock);
        while (pending_lines.Count > 0)
            printk(KERN_INFO + pending_lines.Dequeue() + "\n"); // ok: printk instead of Console
        mutex_unlock(trace_lock);
    }

    public void dump_all()
    {
        var sb = new StringBuilder(); // ok: System.Text is allowlisted
        mutex_lock(trace_lock);
        foreach (var r in records.OrderBy(r => r.start)) // ok: LINQ is allowlisted
            sb.Append($"{r.start:x}-{r.end:x} {r.flags:x}\n");
        int count = records.Count;
        mutex_unlock(trace_lock);
        printk(KERN_INFO + sb.ToString());
        Con.WriteLine(sb.ToString()); // expect: KH9001 (Console through a using alias)
        WriteLine($"vmtrace: {count} records"); // expect: KH9001 (Console.WriteLine through using static)
        last_dump = jiffies;
    }

    public ulong largest_gap()
    {
        ulong best = 0;
        mutex_lock(trace_lock);
        var sorted = records.OrderBy(r => r.start).ToList();
        for (int i = 1; i < sorted.Count; i++)
        {
            if (sorted[i].start > sorted[i - 1].end)
                best = Max(best, sorted[i].start - sorted[i - 1].end); // ok: System.Math through using static is allowlisted
        }
        mutex_unlock(trace_lock);
        return best;
    }

    public ulong total_mapped()
    {
        mutex_lock(trace_lock);
        ulong total = (ulong)records.Sum(r => (long)(r.end - r.start)); // ok: LINQ Sum over a List
        mutex_unlock(trace_lock);
        return total;
    }

    public string flags_summary()
    {
        mutex_lock(trace_lock);
        string s = string.Join(",", hits_by_flags.Select(kv => $"{kv.Key:x}={kv.Value}")); // ok: string.Join and LINQ Select
        mutex_unlock(trace_lock);
        return s;
    }

    public int compare_with_host()
    {
        string maps = System.IO.File.ReadAllText("/proc/self/maps"); // expect: KH9001 (file I/O, fully qualified)
        int host_lines = maps.Split('\n').Length;
        mutex_lock(trace_lock);
        int ours = records.Count;
        mutex_unlock(trace_lock);
        return host_lines - ours;
    }

    private static System.Diagnostics.Process? spawn_pmap(int pid) // expect: KH9001 (refused Process type as a return type)
    {
        return System.Diagnostics.Process.Start("pmap", pid.ToString()); // expect: KH9001 (starting a process)
    }

    public void run_hook(string name)
    {
        typeof(VmaTrace).GetMethod(name)?.Invoke(this, null); // expect: KH9001 (reflection: GetMethod then Invoke, one use)
    }

    public void load_plugin(string path)
    {
        System.Reflection.Assembly.LoadFrom(path); // expect: KH9001 (assembly loading)
    }

    public VmaTrace clone_empty()
    {
        return Activator.CreateInstance<VmaTrace>(); // expect: KH9001 (Activator)
    }

    public void dump_async()
    {
        System.Threading.Tasks.Task.Run(() => dump_all()); // expect: KH9001 (Task.Run: a thread outside the kernel API)
    }

    public void dump_deferred()
    {
        schedule_work(flush_work); // ok: work item instead of Task.Run
    }

    public void start_poller()
    {
        new System.Threading.Thread(() => walk_target()).Start(); // expect: KH9001 (new Thread outside the kernel API)
    }

    public void wait_quiet()
    {
        System.Threading.Thread.Sleep(10); // expect: KH9001 (Thread.Sleep instead of msleep)
    }

    public int checksum_stack()
    {
        Span<byte> scratch = stackalloc byte[32]; // expect: KH9001 (stackalloc)
        scratch.Fill(0);
        return scratch.Length;
    }

    public int checksum_heap()
    {
        kptr buf = kzalloc(REC_SIZE * 4, GFP_KERNEL);
        if (buf == NULL)
            return -ENOMEM;
        Span<byte> scratch = ptr_span(buf, REC_SIZE * 4); // ok: Span over kernel memory from the kernel accessor
        int sum = 0;
        foreach (byte b in scratch)
            sum += b;
        kfree(buf);
        return Clamp(sum, 0, 255); // ok: System.Math.Clamp through using static
    }

    public void shrink()
    {
        mutex_lock(trace_lock);
        records.Clear();
        hits_by_flags.Clear();
        mutex_unlock(trace_lock);
        GC.Collect(); // expect: KH9001 (GC is refused by the default allowlist)
    }

    public int sample_index()
    {
        mutex_lock(trace_lock);
        int count = records.Count;
        mutex_unlock(trace_lock);
        if (count == 0)
            return -ENOENT;
        return new Random(42).Next(count); // expect: KH9001 (Random is nondeterministic and refused)
    }

    public void stamp_dump()
    {
        long stamp = DateTime.Now.Ticks; // expect: KH9001 (DateTime is nondeterministic and refused)
        pr_info($"vmtrace: dump at tick {stamp}\n");
    }

    public void stamp_dump_jiffies()
    {
        pr_info($"vmtrace: dump at jiffies {jiffies}, {jiffies_to_msecs(jiffies - last_dump)} ms since last\n"); // ok: kernel time instead of DateTime
    }

    public ulong record_bytes()
    {
        return (ulong)System.Runtime.InteropServices.Marshal.SizeOf<vma_record>(); // expect: KH9001 (Marshal)
    }

    public ulong record_bytes_const()
    {
        return Min(REC_SIZE, PAGE_SIZE); // ok: System.Math.Min through using static
    }

    private void fatal(string why)
    {
        pr_err($"vmtrace: {why}\n");
        Environment.FailFast(why); // expect: KH9001 (Environment.FailFast)
    }

    public void check_consistency()
    {
        mutex_lock(trace_lock);
        bool bad = records.Any(r => r.end <= r.start); // ok: LINQ Any
        mutex_unlock(trace_lock);
        if (bad)
            fatal("corrupt record");
    }

    public void give_up()
    {
        pr_err("vmtrace: giving up\n");
        Environment.Exit(2); // expect: KH9001 (Environment.Exit)
    }
}
